"""Batch mode: the backend the runner calls when `--batch` is on.

The runner stays the one place with concurrency, retries and the budget: it keeps many records
in flight and calls `complete` for each request as usual (holding its worst case at the batch
rate first). Here each call becomes a line of a provider batch: the requests of one stage are
collected until none came for `collect_seconds` or the provider's lines/bytes limit is reached;
the batch's requests and a unique tag are committed to the store before it is created, its id
the moment the provider returns it (ledger.py); it is polled with backoff, and its answers are
stored as they are read, before any caller gets them. A line that failed, expired or was
cancelled raises a retryable error, so the runner's retry puts it into a later batch. A batch
an earlier (killed) run left is followed, found again by its tag if its id was lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..backends.base import AuthFailed, BackendBase, BackendError, BadRequest, ContextTooLong, Request, Response
from ..backends.batch_api import BatchAPI, BatchResults, BatchStatus, LineNotRun, NotCreated
from ..errors import RunStopped
from ..recipe.model import BatchSettings
from ..runner.options import CURRENT_STAGE
from ..store import Store
from ..store.batches import BatchLedger, BatchRow
from .collect import Collector
from .progress import BatchProgress

__all__ = ["BatchBackend"]


class BatchBackend(BackendBase):
    """Answers `complete` from provider batches; wraps the backend whose batch API it uses."""

    @property
    def priced_as_batch(self) -> bool:
        return True

    def __init__(self, inner: Any, api: BatchAPI, store: Store, settings: BatchSettings,
                 on_unclaimed: Callable[[Response], None] | None = None, completion_window: str = "24h"):
        self.inner, self.api, self.store, self.settings = inner, api, store, settings
        self.name, self.model_id = inner.name, inner.model_id
        self.ledger = BatchLedger(store)
        self.on_unclaimed = on_unclaimed
        self.completion_window = completion_window
        self.waiting: dict[str, asyncio.Future] = {}  # request key → its answer, for every request queued or in a batch
        self.canonical: dict[str, str] = {}  # request key → canonical request, until its batch is recorded
        self.claimed: set[str] = set()  # keys a caller waits for (the others were left by an earlier run)
        self.collector = Collector(lambda stage, items: self.spawn(self.submit(stage, items)), api.max_lines,
                                   api.max_bytes, api.framing, settings.collect_seconds)
        self.tasks: set[asyncio.Task] = set()
        self.progress = BatchProgress()
        self.failure: BaseException | None = None

    async def start(self) -> None:
        await self.inner.start()
        for row in self.ledger.open_batches(self.api.provider):
            self.resume(row)

    async def close(self) -> None:
        self.collector.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.inner.close()

    def endpoint_stats(self) -> Any:
        return self.inner.endpoint_stats()

    def summary(self) -> dict[str, Any]:
        """run.json `batches`: this run's figures and every batch of the directory."""
        return self.progress.to_dict(self.ledger.summary())

    async def complete(self, request: Request) -> Response:
        if self.failure is not None:
            raise self.failure
        canonical = request.canonical()
        key = request.cache_key(canonical)
        future = self.waiting.get(key)
        if future is None:
            future = self.future(key)
            self.canonical[key] = canonical
            self.enqueue(CURRENT_STAGE.get(), key, self.api.line(key, request))
        self.claimed.add(key)
        return await asyncio.shield(future)

    def future(self, key: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # an unclaimed failure is not an error
        self.waiting[key] = future
        return future

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def enqueue(self, stage: str, key: str, line: bytes) -> None:
        if not self.collector.fits(line):
            self.canonical.pop(key, None)
            self.settle(key, error=BadRequest(f"the request is {len(line):,} bytes, more than a batch file may hold "
                                              f"({self.api.max_bytes:,})"))
            return
        self.collector.add(stage, key, line)

    async def submit(self, stage: str, items: list[tuple[str, bytes]]) -> None:
        """Record, then create, then follow one batch; the id is committed as soon as it is known."""
        keys = [key for key, _ in items]
        if self.failure is not None:  # the run is stopping: nothing new goes out
            for key in keys:
                self.canonical.pop(key, None)
                self.settle(key, error=self.failure)
            return
        tag = "sl" + uuid.uuid4().hex[:20]
        created = self.ledger.record(tag, self.api.provider, stage, list(self.ledger_requests(keys)))
        self.progress.requests_sent += len(items)
        try:
            batch_id = await self.api.submit(tag, [line for _, line in items])
        except NotCreated as failed:  # the upload itself failed: there is no batch to look for
            return self.not_created(tag, stage, items, failed.error)
        except (AuthFailed, BadRequest) as exc:  # refused: a 4xx creates nothing
            return self.not_created(tag, stage, items, exc)
        except BackendError as exc:  # it may have been created all the same: look before sending again
            found = await self.find_or_stop(tag, created, len(items))
            if found is None:
                return
            if not found or not await self.follow_found(tag, found, keys):
                return self.not_created(tag, stage, items, exc)
            return
        self.ledger.submitted(tag, batch_id)
        self.progress.submitted += 1
        await self.follow(tag, batch_id, keys, certain=True)

    def not_created(self, tag: str, stage: str, items: list[tuple[str, bytes]], error: BackendError) -> None:
        """A batch that does not exist: a refusal stops the run, a transient failure goes back to the runner's retries."""
        self.ledger.abandoned(tag, str(error))
        self.progress.failed += 1
        if isinstance(error, AuthFailed):
            return self.stop(error)
        if not error.retryable:
            size = sum(len(line) for _, line in items)
            return self.stop(RunStopped(f"the provider refused a batch of {len(items):,} requests ({size:,} bytes) for "
                                        f"stage {stage or '(setup)'}: {error}"))
        for key, _ in items:
            self.settle(key, error=error)

    def ledger_requests(self, keys: list[str]) -> Any:
        """(key, canonical request) pairs, read back from the runner's requests (the cache key is their hash)."""
        for key in keys:
            yield key, self.canonical.pop(key)

    # following batches
    def resume(self, row: BatchRow) -> None:
        keys = [key for key, _ in self.ledger.requests(row.tag)]
        if not keys:
            self.ledger.collected(row.tag, row.status)
            return
        for key in keys:
            if key not in self.waiting:
                self.future(key)
        self.progress.resumed += 1
        self.spawn(self.follow_left(row, keys))

    async def follow_left(self, row: BatchRow, keys: list[str]) -> None:
        if row.batch_id is not None and await self.follow(row.tag, row.batch_id, keys, certain=row.state == "submitted"):
            return
        found = await self.find_or_stop(row.tag, row.created, row.lines)
        if found is None:
            return
        if not found or not await self.follow_found(row.tag, found, keys):
            self.ledger.abandoned(row.tag, "never created (not found on the provider)")
            self.progress.failed += 1
            for key in keys:
                self.settle(key, error=LineNotRun("its batch was never created"))

    async def follow_found(self, tag: str, found: list, keys: list[str]) -> bool:
        """Follow the batches that may be `tag` in turn (a guess is recorded `adopted` until its results
        prove it); False when none turned out to be it."""
        for candidate in found:
            self.ledger.submitted(tag, candidate.batch_id, candidate.certain)
            if await self.follow(tag, candidate.batch_id, keys, candidate.certain):
                return True
        return False

    async def find_or_stop(self, tag: str, created: float, lines: int) -> list | None:
        """The provider's batches that may be `tag`; None (and the run stops) when it cannot be asked."""
        try:
            return await self.api.find(tag, created, lines, self.ledger.known_ids())
        except BackendError as exc:
            self.stop(RunStopped(f"cannot tell whether batch {tag} was created ({exc}); its requests are kept and not "
                                 "sent again: run the same command once the provider answers"))
            return None

    async def follow(self, tag: str, batch_id: str, keys: list[str], certain: bool) -> bool:
        """Wait for the batch and collect it; False only when it turned out not to be `tag`."""
        self.progress.in_progress += 1
        self.progress.wait_started()
        try:
            status = await self.wait_for(tag, batch_id)
            if status is None:
                return True
            results = await self.retrying(lambda: self.api.results(batch_id, status))
            if results is None:
                return True
            return self.collect(tag, batch_id, keys, status, results, certain)
        finally:
            self.progress.in_progress -= 1
            self.progress.wait_ended()

    async def wait_for(self, tag: str, batch_id: str) -> BatchStatus | None:
        """Poll with backoff until the batch ends; None when the run had to stop."""
        delay, last = self.settings.poll_interval, ""
        while True:
            status = await self.retrying(lambda: self.api.status(batch_id))
            if status is None:
                return None
            self.progress.polls += 1
            if status.status != last:
                self.ledger.status(tag, status.status, status.refused or "")
                last = status.status
            if status.refused:
                self.ledger.abandoned(tag, status.refused)
                self.progress.failed += 1
                self.stop(RunStopped(f"the provider refused batch {batch_id}: {status.refused}"))
                return None
            if status.ended:
                return status
            if status.expires_at and time.time() > status.expires_at + self.settings.grace_seconds:
                self.stop(RunStopped(f"batch {batch_id} has not finished within its completion_window "
                                     f"({self.completion_window}) and {self.settings.grace_seconds:g}s more; its id is "
                                     "saved: run the same command later to collect it"))
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.settings.poll_max)

    async def retrying(self, call: Callable[[], Any]) -> Any:
        """A status or results call, tried again with backoff while the provider fails transiently."""
        delay = self.settings.poll_interval
        while True:
            try:
                return await call()
            except BackendError as exc:
                if not exc.retryable:
                    self.stop(exc if isinstance(exc, AuthFailed) else RunStopped(f"batch API: {exc}"))
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, self.settings.poll_max)

    def collect(self, tag: str, batch_id: str, keys: list[str], status: BatchStatus, results: BatchResults,
                certain: bool) -> bool:
        """Store every answer (committed), then hand answers and errors to whoever waits; a guessed
        batch whose custom_ids are not this batch's is left alone (False)."""
        seen = set(results.answers) | set(results.errors)
        if not certain and not (seen and seen <= self.ledger.keys(tag)):
            return False
        requests = dict(self.ledger.requests(tag))
        answers = {key: dataclasses.replace(answer, batch=True) for key, answer in results.answers.items() if key in requests}
        for key, answer in answers.items():
            self.store.put_response(key, requests[key], answer)
        self.store.flush()
        self.ledger.collected(tag, status.status)
        self.progress.completed += 1
        self.progress.requests_done += len(answers)
        if self.refused_whole(batch_id, results):
            return True
        if results.malformed:
            self.progress.malformed_lines += len(results.malformed)
            self.warn(f"batch {batch_id}: {len(results.malformed)} output line(s) unreadable (first: "
                      f"{results.malformed[0][:60]!r}); their requests go into a later batch")
        for key in keys:
            if key in answers:
                self.settle(key, answer=answers[key])
            elif key in results.errors:
                self.settle(key, error=results.errors[key])
            elif key in requests:
                self.progress.lines_not_run += 1
                self.settle(key, error=LineNotRun(f"batch {batch_id} ({status.status}) brought no answer for it"))
        return True

    def refused_whole(self, batch_id: str, results: BatchResults) -> bool:
        """Every line refused for one reason (a model the batch endpoint does not serve): the run stops,
        and those requests stay unanswered for a re-run, not rejected."""
        errors = list(results.errors.values())
        if results.answers or not errors or any(e.retryable or isinstance(e, ContextTooLong) for e in errors):
            return False
        if len({str(e) for e in errors}) > 1:
            return False
        self.stop(RunStopped(f"the provider refused every request of batch {batch_id}: {errors[0]}"))
        return True

    def settle(self, key: str, answer: Response | None = None, error: BaseException | None = None) -> None:
        future = self.waiting.pop(key, None)
        if answer is not None and key not in self.claimed and self.on_unclaimed is not None:
            self.on_unclaimed(answer)  # answered for an earlier run: count its cost, no caller will
        self.claimed.discard(key)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(answer)

    def stop(self, error: BaseException) -> None:
        """A fatal error: every caller gets it, the run stops; batches in flight stay recorded for a re-run."""
        if self.failure is None:
            self.failure = error
        for key in list(self.waiting):
            self.settle(key, error=self.failure)

    def warn(self, message: str) -> None:
        self.progress.warnings.append(message)
        print(f"synthloom: warning: {message}", file=sys.stderr)
