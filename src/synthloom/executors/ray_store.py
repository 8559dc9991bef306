"""One writer for a distributed run: the run's store on the driver's node, and the workers' client.

`StoreWriter` runs as a Ray actor (no CPU, pinned to the driver's node) and is the only process
that writes the run's store while the workers run; it also holds the run's one `Budget`. A
worker's `RemoteStore` implements the store protocol (store/protocol.py) by queueing operations
and sending them to the writer in batches, one batch in flight at a time: whatever queues while a
batch travels goes in the next (group commit over the network). A look-up, a saved response and
a budget hold wait for the writer's answer; the writer commits a batch before it answers, so a
response is stored before the worker uses it, and a killed worker or driver loses at most the
batch in flight. Records and failures are queued without waiting; the queue is bounded (a
look-up waits while it is full), so a worker faster than the writer slows down instead of growing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..backends.base import Request, Response
from ..cost.budget import Budget, BudgetReached
from ..errors import RunStopped, SynthloomError
from ..record import Record
from ..store import Store

__all__ = ["StoreWriter", "RemoteStore", "RemoteBudget", "TOKEN_KEY"]

TOKEN_KEY = "ray_writer_token"  # written by the driver, read back by the writer: proof it opened the same file
MAX_BATCH = 1000  # operations per message to the writer
MAX_QUEUED = 4000  # operations queued in a worker before its look-ups wait


class StoreWriter:
    """The run's store and budget, behind one actor on the driver's node; methods run one at a time."""

    def __init__(self, path: str, token: str, budget: Budget | None):
        self.path, self.token, self.budget = Path(path), token, budget
        self.store: Store | None = None
        self.kept = self.failed = 0
        self.attempts: dict[str, dict[str, Any]] = {}  # each shard attempt's last figures

    def open(self, node: str) -> None:
        """Open the run's store; a writer that does not see the driver's file stops the run."""
        if not self.path.exists():
            raise RunStopped(f"the Ray store writer on node {node} cannot see {self.path}: it must run on the "
                             "driver's machine (a Ray Client driver, ray://, is not supported: run the command on a node)")
        self.store = Store(self.path)
        if self.store.get_meta(TOKEN_KEY) != self.token:
            raise RunStopped(f"the Ray store writer on node {node} opened another {self.path} than the driver's")

    def unfinished(self, indices: list[int]) -> list[int]:
        """The indices of a shard still to do (a retried shard skips what its first attempt stored)."""
        assert self.store is not None
        done = self.store.finished_indices(max(indices, default=-1) + 1)
        return [i for i in indices if i not in done]

    def apply(self, ops: list[tuple]) -> list[Any]:
        """Apply a worker's batch in order, in one transaction, committed before the answers go back."""
        assert self.store is not None
        answers: list[Any] = []
        with self.store.group_commit():
            for op in ops:
                answers.append(self.one(op))
        return answers

    def one(self, op: tuple) -> Any:
        store, kind = self.store, op[0]
        assert store is not None
        if kind == "get":
            return store.get_response(op[1])
        if kind == "response":
            store.put_response(*op[1:])
            return True
        if kind == "record":
            store.put_record(op[1])
            self.kept += 1
        elif kind == "failure":
            store.put_failure(*op[1:])
            self.failed += 1
        elif kind == "hold":
            try:
                return self.budget.hold(*op[1:]) if self.budget else 0.0
            except Exception as exc:  # noqa: BLE001 - BudgetReached, or a ConfigError (no price): the worker raises it
                return exc
        elif kind == "figures":
            self.attempts[op[1]] = op[2]
        elif kind == "release" and self.budget:
            self.budget.release(op[1])
        elif kind == "settle" and self.budget:
            self.budget.settle(*op[1:])
        return None

    def progress(self) -> dict[str, Any]:
        """Records kept and failed through this writer so far, and the shared spend."""
        return {"kept": self.kept, "failed": self.failed,
                "spent": self.budget.spent if self.budget else 0.0,
                "reached": bool(self.budget and self.budget.reached)}

    def close(self) -> dict[str, Any]:
        if self.store is not None:
            self.store.close()
            self.store = None
        return self.progress() | {"attempts": self.attempts}


class RemoteStore:
    """A worker's CallStore: every operation goes to the writer actor, in ordered batches."""

    def __init__(self, writer: Any, max_batch: int = MAX_BATCH, max_queued: int = MAX_QUEUED,
                 snapshot: Callable[[], tuple] | None = None):
        self.writer, self.max_batch, self.max_queued = writer, max_batch, max_queued
        self.snapshot = snapshot  # an op sent with every batch: the worker's figures so far
        self.queue: list[tuple[tuple, asyncio.Future | None]] = []
        self.pump: asyncio.Task | None = None
        self.wake = asyncio.Event()
        self.moved = asyncio.Event()  # a batch was answered: room in the queue, or the queue is empty
        self.broken: BaseException | None = None
        self.sending = False  # a batch is with the writer, not answered yet
        self.batches = 0

    # CallStore
    async def fetch_response(self, key: str) -> Response | None:
        while len(self.queue) >= self.max_queued and self.broken is None:
            self.moved.clear()
            await self.moved.wait()
        return await self.ask(("get", key))

    async def save_response(self, key: str, request_json: str, response: Response) -> None:
        await self.ask(("response", key, request_json, response))

    def put_record(self, record: Record) -> None:
        self.tell(("record", record))

    def put_failure(self, record: Record, stage: str, reason: str, detail: str, transient: bool) -> None:
        self.tell(("failure", record, stage, reason, detail, transient))

    @contextmanager
    def group_commit(self, on_write: Callable[[], None] | None = None) -> Iterator[None]:
        yield  # every write is batched already; the pump sends it

    def flush(self) -> None:
        pass

    # the queue
    def tell(self, op: tuple, future: asyncio.Future | None = None) -> None:
        if self.broken is not None:
            raise self.stopped()
        if self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self.send_forever())
        self.queue.append((op, future))
        self.wake.set()

    async def ask(self, op: tuple) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.tell(op, future)
        answer = await future
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def send_forever(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                batch, self.queue = self.queue[:self.max_batch], self.queue[self.max_batch:]
                self.sending = True
                ops = [op for op, _ in batch] + ([self.snapshot()] if self.snapshot else [])
                try:
                    answers = await self.writer.apply.remote(ops)
                except Exception as exc:  # noqa: BLE001 - the writer (or the driver) is gone: stop this worker
                    self.broken = exc
                    for _, future in batch + self.queue:
                        if future is not None and not future.done():
                            future.set_exception(self.stopped())
                    self.moved.set()
                    return
                self.sending = False
                self.batches += 1
                for (_, future), answer in zip(batch, answers):
                    if future is not None and not future.done():
                        future.set_result(answer)
                self.moved.set()

    def stopped(self) -> SynthloomError:
        cause = getattr(self.broken, "cause", None) or self.broken
        if isinstance(cause, SynthloomError):
            return cause  # the writer's own one line (a full disk, say)
        text = str(self.broken).strip().splitlines()
        return RunStopped(f"a Ray worker lost the run's store writer ({type(self.broken).__name__}: "
                          f"{text[-1] if text else ''}); re-run the same command to continue")

    async def aclose(self) -> None:
        """Wait until everything queued is stored (or the writer is gone), then stop the pump."""
        while (self.queue or self.sending) and self.broken is None and self.pump is not None and not self.pump.done():
            self.moved.clear()
            await self.moved.wait()
        if self.pump is not None:
            self.pump.cancel()
            await asyncio.gather(self.pump, return_exceptions=True)
        if self.broken is not None:
            raise self.stopped()


class RemoteBudget:
    """A worker's view of the run's one budget: holds are granted by the writer against one spend."""

    def __init__(self, store: RemoteStore):
        self.store = store
        self.reached = False

    async def reserve(self, request: Request, model: str, batch: bool = False) -> float:
        try:
            return await self.store.ask(("hold", request, model, batch))
        except BudgetReached:
            self.reached = True
            raise

    def release(self, amount: float) -> None:
        self.store.tell(("release", amount))

    def settle(self, amount: float, response: Response, model: str) -> None:
        self.store.tell(("settle", amount, response, model))
