"""Counting tokens with an OpenAI-compatible server's own tokenizer.

Servers that host open models expose one: vLLM and SGLang `POST /tokenize` (with chat messages,
so the template's tokens count too), llama.cpp's server `POST /tokenize` ({"content"}),
llama-cpp-python's `POST /extras/tokenize` ({"input"}). The first that answers is used from then
on; with none (a hosted API), counts are approximate (4 characters per token). With a fleet of
servers (one model on each), requests go to the first live one: `root` is asked each time.

The last two count text, not chat: what the template adds (role markers, a default system
prompt some templates insert) is measured once per shape of conversation (the sequence of
roles) by one completion of a single token, and added to every prompt of that shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from .base import Request
from .tokens import CHAT_OVERHEAD

__all__ = ["ServerTokenizer"]

Post = Callable[[str, dict[str, Any]], Awaitable[Any]]
Billed = Callable[[list[dict[str, str]]], Awaitable[int]]  # prompt tokens the server bills for these messages
Root = str | Callable[[], str]  # the server's root URL, or where to find it now (the first live endpoint)


class ServerTokenizer:
    """Finds which tokenize endpoint a server has, once, and counts with it."""

    def __init__(self, root: Root, model: str, post: Post, billed: Billed | None = None):
        self.root: Callable[[], str] = root if callable(root) else (lambda: root)
        self.model = model
        self.post = post
        self.billed = billed
        self.overheads: dict[tuple[str, ...], int] = {}
        self.method: str | None = None  # "messages", "content", "input", or "none"
        self.lock = asyncio.Lock()

    @property
    def exact(self) -> bool:
        return self.method == "messages"

    async def prompt_tokens(self, request: Request) -> int | None:
        """The prompt's tokens; None when the server has no tokenizer endpoint."""
        await self.discover(request)
        messages = list(request.messages)
        if self.method == "messages":
            data = await self.post(self.root() + "/tokenize", {"model": self.model, "messages": messages,
                                                                "add_generation_prompt": True})
            return count_in(data)
        if self.method in ("content", "input"):
            counts = await asyncio.gather(*(self.text_tokens(m["content"]) for m in messages))
            known = [count for count in counts if count is not None]
            if len(known) < len(counts):
                return None
            return sum(known) + await self.overhead(tuple(m["role"] for m in messages))
        return None

    async def overhead(self, roles: tuple[str, ...]) -> int:
        """Tokens the chat template adds to a conversation with these roles (measured once)."""
        if roles not in self.overheads:
            per_message, reply = CHAT_OVERHEAD
            guess = per_message * len(roles) + reply
            if self.billed is not None:
                probe = [{"role": role, "content": "hi"} for role in roles]
                try:
                    billed = await self.billed(probe)
                    content = await self.text_tokens("hi")
                    guess = billed - len(roles) * (content or 1) if billed else guess
                except Exception:  # noqa: BLE001 - any failure leaves the rule of thumb
                    pass
            self.overheads[roles] = guess
        return self.overheads[roles]

    async def text_tokens(self, text: str) -> int | None:
        await self.discover(None)
        if self.method in ("messages", "content"):
            body = {"model": self.model, "prompt": text} if self.method == "messages" else {"content": text}
            return count_in(await self.post(self.root() + "/tokenize", body))
        if self.method == "input":
            return count_in(await self.post(self.root() + "/extras/tokenize", {"input": text}))
        return None

    async def discover(self, request: Request | None) -> None:
        if self.method is not None:
            return
        async with self.lock:
            if self.method is not None:
                return
            probe = [{"role": "user", "content": "hello"}]
            tries: list[tuple[str, str, dict[str, Any]]] = [
                ("messages", "/tokenize", {"model": self.model, "messages": probe, "add_generation_prompt": True}),
                ("content", "/tokenize", {"content": "hello"}),
                ("input", "/extras/tokenize", {"input": "hello"})]
            for method, path, body in tries:
                try:
                    if count_in(await self.post(self.root() + path, body)) is not None:
                        self.method = method
                        return
                except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                    continue
            self.method = "none"


def count_in(data: Any) -> int | None:
    """The token count in a tokenize answer: {"count": n} or {"tokens": [...]}."""
    if isinstance(data, dict):
        count = data.get("count")
        if isinstance(count, int):
            return count
        if isinstance(data.get("tokens"), list):
            return len(data["tokens"])
    return None


def loads_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None
