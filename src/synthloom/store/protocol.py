"""What the runner needs of a store: the one seam between the calls and where they are kept.

`Store` (core.py) implements it on the run's SQLite file; a Ray worker's `RemoteStore`
(executors/ray_store.py) implements it by sending batches to the one writer on the driver's node.
Look-ups and saved responses are awaited (a remote store answers over the network, and a
response must be acknowledged as stored before it is used); records and failures are queued.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from ..backends.base import Response
from ..record import Record

__all__ = ["CallStore"]


class CallStore(Protocol):
    """The store a Caller and a Runner write through."""

    async def fetch_response(self, key: str) -> Response | None:
        """The cached response for a request key, or None."""
        ...

    async def save_response(self, key: str, request_json: str, response: Response) -> None:
        """Store a fresh response; returns once it is stored (or, in a group commit, queued in order)."""
        ...

    def put_record(self, record: Record) -> None: ...

    def put_failure(self, record: Record, stage: str, reason: str, detail: str, transient: bool) -> None: ...

    def group_commit(self, on_write: Callable[[], None] | None = None) -> AbstractContextManager[None]:
        """Batch the writes of a block; `on_write` asks for a `flush` soon."""
        ...

    def flush(self) -> None: ...
