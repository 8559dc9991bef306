"""A deterministic backend in the package, for tests and `--dry-run`.

Tests can enqueue replies (texts or exceptions to raise) and inspect `requests` afterwards (the
last REMEMBERED of them, so a 100k-record dry run does not hold every prompt).
With nothing enqueued it echoes the prompt, tagged with a hash of the request; a request with
a JSON Schema (`response_format`) gets a small instance of that schema, so dry runs of
structured stages go through.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..recipe.model import BackendSpec
from .base import BackendBase, Request, Response, Usage
from .options import BackendOptions, parse_options

__all__ = ["FakeBackend"]

REMEMBERED = 10_000


class FakeOptions(BackendOptions):
    """backend.options of the fake backend."""

    latency: float = Field(0.0, ge=0, lt=3600, description="seconds each answer waits")
    replies: list[str] = Field(default_factory=list, description="texts to answer with, in order, before echoing")


class FakeBackend(BackendBase):
    """Answers from a queue of replies, or with a deterministic echo of the prompt."""

    name = "fake"

    def __init__(self, model: str = "fake", replies: Iterable[str | BaseException] = (), latency: float = 0.0):
        self.model_id = model
        self.replies: deque[str | BaseException] = deque(replies)
        self.latency = latency
        self.requests: list[Request] = []

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> FakeBackend:
        options = parse_options(FakeOptions, spec.options)
        return cls(model=spec.model or "fake", replies=options.replies, latency=options.latency)

    def enqueue(self, *replies: str | BaseException) -> None:
        """Queue replies; an exception is raised by the call that dequeues it."""
        self.replies.extend(replies)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def complete(self, request: Request) -> Response:
        self.requests.append(request)
        if len(self.requests) > 2 * REMEMBERED:
            del self.requests[:REMEMBERED]
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.replies:
            reply = self.replies.popleft()
            if isinstance(reply, BaseException):
                raise reply
            text = reply
        elif request.response_format:
            text = json.dumps(instance_of(schema_in(request.response_format), request.cache_key()[:8]))
        else:
            text = self.echo(request)
        return Response(text, "stop", Usage(words_in_prompt(request), len(text.split())), self.model_id)

    async def count_prompt_tokens(self, request: Request) -> int:
        """The fake's tokens are words: what it bills is what `synthloom estimate` counts."""
        return words_in_prompt(request)

    async def count_text_tokens(self, text: str) -> int:
        return len(text.split())

    def token_counting(self) -> str:
        return "exact (the fake backend's words)"

    @property
    def answers_for_free(self) -> bool:
        return True

    @staticmethod
    def quote_source(request: Request) -> str | None:
        """For a prompt with numbered sources (grounded stages): source [1]'s first sentence, cited."""
        for message in reversed(request.messages):
            if message["role"] in ("user", "system") and "Sources:" in message["content"]:
                match = SOURCE_ONE.search(message["content"].split("Sources:", 1)[1])
                if match and "Score: N" not in request.messages[-1]["content"]:
                    return f"{_first_sentence(match.group(1))} [1]"
        return None

    @staticmethod
    def echo(request: Request) -> str:
        prompt = request.messages[-1]["content"]
        tag = request.cache_key()[:8]
        if "per line" in prompt.lower():  # list prompts (topic trees) get a list, so dry runs branch
            return "\n".join(f"{word} {tag[i:i + 3]}" for i, word in enumerate(LIST_WORDS))
        grounded = FakeBackend.quote_source(request)
        if grounded:
            return grounded
        words = prompt.split()
        if request.max_tokens:
            words = words[: request.max_tokens]
        return f"[fake {tag}] " + " ".join(words)


SOURCE_ONE = re.compile(r"^\[1\][^\n]*\n(.+?)(?:\n\n|$)", re.MULTILINE | re.DOTALL)


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]


LIST_WORDS = ("Harbors", "Glaciers", "Lanterns", "Orchards", "Comets")


def schema_in(response_format: dict[str, Any]) -> dict[str, Any]:
    return response_format.get("json_schema", {}).get("schema") or response_format.get("schema") or {}


def instance_of(schema: dict[str, Any], tag: str) -> Any:
    """A small deterministic value that satisfies common JSON Schema keywords."""
    if not isinstance(schema, dict):  # a boolean subschema: true allows anything, false nothing
        return None if schema is False else "fake"
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance_of(sub, tag) for name, sub in props.items()}
    if kind == "array":
        return [instance_of(schema.get("items", {}), tag) for _ in range(schema.get("minItems", 1))]
    if kind in ("integer", "number"):  # spread over the range by the request hash: judges vary in dry runs
        low, high = schema.get("minimum", 1), schema.get("maximum", schema.get("minimum", 1) + 9)
        return low + int(tag, 16) % (int(high) - int(low) + 1)
    if kind == "boolean":
        return True
    text = f"fake {tag} text for a structured reply"
    return (text * 4)[: schema.get("maxLength", 60)].ljust(schema.get("minLength", 0), ".")


def words_in_prompt(request: Request) -> int:
    return sum(len(m["content"].split()) for m in request.messages)
