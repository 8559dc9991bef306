"""What a provider's batch API offers the dispatcher: one protocol, plain values, typed errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from .base import BackendError, Request, Response, ServerError, Timeout, Unreachable
from .openai_wire import body_text, describe

__all__ = ["BatchAPI", "BatchStatus", "BatchResults", "LineNotRun", "NotCreated", "Candidate", "HttpCall"]

ErrorOf = Callable[[int, bytes, Any], BackendError]  # (status, body, response headers) → the typed error


class LineNotRun(BackendError):
    """A batch line the provider never ran (the batch expired or was cancelled, or its answer came
    back unreadable): retryable, it goes into a later batch."""

    retryable = True
    reason = "batch_line_not_run"


class NotCreated(Exception):
    """A batch that certainly does not exist (its file upload failed): `error` says why."""

    def __init__(self, error: BackendError):
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class BatchStatus:
    """A batch as the provider reports it."""

    status: str  # the provider's own word: in_progress, completed, expired, ended, ...
    ended: bool  # no line will change any more: results can be read
    total: int = 0
    done: int = 0  # lines answered so far
    failed: int = 0
    expires_at: float | None = None  # Unix time by which the provider promised to finish
    refused: str | None = None  # the provider rejected the whole batch (validation): why


@dataclass
class BatchResults:
    """What an ended batch brought: an answer or an error per custom_id, and lines that were unreadable."""

    answers: dict[str, Response] = field(default_factory=dict)
    errors: dict[str, BackendError] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # the first bytes of each unreadable line


@dataclass(frozen=True)
class Candidate:
    """A batch found on the provider that may be one this directory created but never saw the id of."""

    batch_id: str
    certain: bool  # matched by the tag sent as metadata; otherwise by size and time, checked when it ends


class BatchAPI(Protocol):
    """A provider's batch endpoints. `provider` names the account and server (no credentials)."""

    provider: str
    max_lines: int
    max_bytes: int
    tags_in_metadata: bool  # False: a lost batch is recognised by its custom_ids once it ends

    def line(self, custom_id: str, request: Request) -> bytes:
        """One request as a line of the batch (JSON, no newline)."""

    async def submit(self, tag: str, lines: list[bytes]) -> str:
        """Create a batch of these lines, tagged; its provider id."""

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str, status: BatchStatus) -> BatchResults: ...

    async def find(self, tag: str, since: float, lines: int, known: set[str]) -> list[Candidate]:
        """Batches created since `since` that may be the one tagged `tag` (a kill lost its id)."""

    def framing(self, lines: int) -> int:
        """Bytes a batch adds around its lines (a JSON envelope, newlines)."""


@dataclass
class HttpCall:
    """One provider's batch endpoints over its backend's connection pool: HTTP and connection
    failures become the typed errors the dispatcher and the runner act on; no key in a message."""

    session: Callable[[], aiohttp.ClientSession]
    base_url: str
    headers: Callable[[], dict[str, str]]
    error_of: ErrorOf
    redact: Callable[[str], str]
    timeout: float

    async def bytes(self, method: str, path: str, **kwargs: Any) -> bytes:
        headers = dict(self.headers())
        if isinstance(kwargs.get("data"), aiohttp.FormData):
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}  # aiohttp adds the boundary
        try:
            async with self.session().request(method, self.base_url + path, headers=headers, **kwargs) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise self.error_of(resp.status, raw, resp.headers)
        except TimeoutError:
            raise Timeout(f"{method} {path}: no answer within {self.timeout}s") from None
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(self.redact(describe(exc))) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise ServerError(self.redact(describe(exc))) from None
        return raw

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        raw = await self.bytes(method, path, **kwargs)
        try:
            return orjson.loads(raw)
        except ValueError:
            raise ServerError(f"{method} {path}: not JSON: {body_text(raw, 120)}") from None
