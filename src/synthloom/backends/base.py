"""The typed boundary between synthloom and any LLM: Request, Response, errors, Backend."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

__all__ = [
    "Message",
    "Request",
    "Response",
    "Usage",
    "Backend",
    "BackendBase",
    "as_backend",
    "BackendError",
    "RateLimited",
    "Timeout",
    "ServerError",
    "Unreachable",
    "BadResponse",
    "BadRequest",
    "ContextTooLong",
    "AuthFailed",
]

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class Request:
    """One chat completion to make; its canonical form is the cache key."""

    messages: tuple[Message, ...]
    model: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: dict[str, Any] | None = None
    backend: str | None = None  # which of the run's backends serves it (None: the default one)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, used for the cache key, the store and lineage."""
        return {
            "messages": [dict(m) for m in self.messages],
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
            "extra": self.extra,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "response_format": self.response_format,
            "backend": self.backend,
        }

    def sampling_params(self) -> dict[str, Any]:
        """The generation parameters that are set, with OpenAI names (stop as a list)."""
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "seed": self.seed,
        }
        params = {key: value for key, value in params.items() if value is not None}
        if self.stop:
            params["stop"] = list(self.stop)
        return params

    def canonical(self) -> str:
        """The canonical JSON text of the request (sorted keys, no spaces)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS).decode("utf-8")

    def cache_key(self, canonical: str | None = None) -> str:
        """Hash of the canonical request: model, messages, params, seed."""
        return hashlib.sha256((canonical or self.canonical()).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the backend. `cached_tokens` and `cache_write_tokens` are the
    part of `prompt_tokens` read from and written to the provider's prompt cache (priced apart)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        """Prompt and completion tokens, and the cache figures only when there are some (so a
        response without them is stored exactly as before they existed)."""
        data = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}
        if self.cached_tokens:
            data["cached_tokens"] = self.cached_tokens
        if self.cache_write_tokens:
            data["cache_write_tokens"] = self.cache_write_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        return cls(data.get("prompt_tokens", 0), data.get("completion_tokens", 0),
                   data.get("cached_tokens", 0), data.get("cache_write_tokens", 0))


@dataclass(frozen=True, slots=True)
class Response:
    """A completed request: the text, why it stopped, and what it cost.

    `reasoning` is the trace a reasoning model returned beside its answer (None: none);
    `batch` says a provider's batch API answered it, so it is priced at the batch rate.
    """

    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    reasoning: str | None = None
    batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": self.usage.to_dict(),
            "model": self.model,
        }
        if self.reasoning is not None:
            data["reasoning"] = self.reasoning
        if self.batch:
            data["batch"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Response:
        return cls(
            text=data["text"],
            finish_reason=data.get("finish_reason", "stop"),
            usage=Usage.from_dict(data.get("usage") or {}),
            model=data.get("model", ""),
            reasoning=data.get("reasoning"),
            batch=bool(data.get("batch", False)),
        )


class BackendError(Exception):
    """Base of every backend failure; `retryable` tells the runner whether to try again."""

    retryable = False
    reason = "backend_error"


class RateLimited(BackendError):
    """HTTP 429: wait `retry_after` seconds (from the Retry-After header) if given."""

    retryable = True
    reason = "rate_limited"

    def __init__(self, message: str = "rate limited", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Timeout(BackendError):
    """The request took longer than the per-request timeout."""

    retryable = True
    reason = "timeout"


class ServerError(BackendError):
    """A 5xx answer or a dropped connection: transient."""

    retryable = True
    reason = "server_error"


class Unreachable(BackendError):
    """The server could not be connected to."""

    retryable = True
    reason = "unreachable"


class BadResponse(BackendError):
    """The server answered something that is not a chat completion (garbage, truncated JSON)."""

    retryable = True
    reason = "bad_response"


class BadRequest(BackendError):
    """A 4xx answer other than 401/403/429: sending it again will not help."""

    reason = "bad_request"


class ContextTooLong(BadRequest):
    """The prompt plus max_tokens does not fit the model's context window."""

    reason = "context_too_long"


class AuthFailed(BackendError):
    """401/403: the key is missing or wrong; fatal for the whole run."""

    reason = "auth_failed"


@runtime_checkable
class Backend(Protocol):
    """What the runner needs of an LLM: one async call, plus setup and teardown."""

    name: str
    model_id: str

    async def start(self) -> None:
        """Load the model or open connections; raise ConfigError if that is impossible."""

    async def complete(self, request: Request) -> Response:
        """Run one chat completion or raise a BackendError subclass."""

    async def close(self) -> None:
        """Release resources."""


class BackendBase(ABC):
    """A backend's optional hooks, each with its default: the built-in backends subclass it, and
    a plugin backend that does may override any of them. The runner, the run setup and
    `estimate` call these and never probe a backend for what it offers."""

    name: str = "backend"
    model_id: str = ""

    async def start(self) -> None:
        """Load the model or open connections; raise ConfigError if that is impossible."""
        return None

    @abstractmethod
    async def complete(self, request: Request) -> Response:
        """Run one chat completion or raise a BackendError subclass (the one method every backend has)."""

    async def close(self) -> None:
        """Release resources."""
        return None

    def fit_in_flight(self, in_flight: int) -> None:
        """Called before start() with the most requests the run can have in flight (the embedded
        backend sizes its batch slots by it)."""
        return None

    def endpoint_stats(self) -> list[dict[str, Any]] | None:
        """Per server, once generation is over (run.json `backend.endpoints`); None: nothing to say."""
        return None

    def engine_stats(self) -> dict[str, Any] | None:
        """The inference engine's figures (run.json `backend.engine`); None: nothing to say."""
        return None

    async def count_prompt_tokens(self, request: Request) -> int | None:
        """The request's prompt tokens as this backend bills them; None: it cannot tell."""
        return None

    async def count_text_tokens(self, text: str) -> int | None:
        """The tokens of a completion's text; None: it cannot tell."""
        return None

    @property
    def exact_token_counts(self) -> bool:
        """Whether count_prompt_tokens includes everything billed (the chat template's tokens)."""
        return True

    def token_counting(self) -> str:
        """How `estimate` counts this backend's tokens, in words, after one count has been tried."""
        return "approximate, 4 characters per token (the backend has no tokenizer)"

    def batch_api(self, spec: Any) -> Any:
        """The provider's batch endpoints (a `synthloom.backends.batch_api.BatchAPI`) for `--batch`;
        None: this backend has none."""
        return None

    @property
    def priced_as_batch(self) -> bool:
        """Its answers come through a provider's batch API: the budget holds and prices them at the batch rate."""
        return False

    @property
    def answers_for_free(self) -> bool:
        """Its answers cost nothing and are what a run would get (the fake): `estimate` uses them
        instead of sizing answers by max_tokens."""
        return False


class ForeignBackend(BackendBase):
    """A backend object written against the bare Backend protocol, with BackendBase's defaults."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id

    async def start(self) -> None:
        await self.inner.start()

    async def complete(self, request: Request) -> Response:
        return await self.inner.complete(request)

    async def close(self) -> None:
        await self.inner.close()


def as_backend(backend: Backend) -> BackendBase:
    """The backend with every optional hook declared: itself, or wrapped with the defaults."""
    return backend if isinstance(backend, BackendBase) else ForeignBackend(backend)
