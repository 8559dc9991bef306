"""Records through the pipeline: K workers pull record indices, each record goes through the
stages in order, and ends in the store as kept or failed with its reason.

This package is the only place with concurrency: the workers here, the calls' gates and retries
in calls.py. `RunOptions.sequential` runs one record at a time, for debugging.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..backends.base import AuthFailed, BackendError, Request, Response
from ..cost.budget import BudgetReached
from ..errors import StageFailed, SynthloomError
from ..pipeline import Pipeline
from ..record import Record, Rejected
from ..stages.base import BuiltStage
from .calls import Caller
from .options import CURRENT_STAGE, RunStats
from .outage import OutageTooLong

__all__ = ["Runner", "lineage_entry"]


class Runner:
    """Drives records through a pipeline, making its calls through `caller` (which holds the store)."""

    def __init__(self, pipeline: Pipeline, caller: Caller, on_progress: Callable[[RunStats], None] | None = None):
        self.pipeline = pipeline
        self.caller = caller
        self.store = caller.store
        self.options = caller.options
        self.stats = caller.stats
        self.on_progress = on_progress

    async def run(self, indices: Iterable[int], total: int | None = None) -> RunStats:
        todo = list(indices)
        self.stats.total = total if total is not None else len(todo)
        self.stats.already_done = self.stats.total - len(todo)
        ticker = asyncio.create_task(self.tick()) if self.on_progress else None
        try:
            if self.options.sequential or self.options.concurrency <= 1:
                await self.work(iter(todo))
            else:
                await self.run_concurrently(iter(todo))
        finally:
            self.stats.finished = time.monotonic()
            self.caller.record_figures()
            if ticker:
                ticker.cancel()
            if self.on_progress:
                self.on_progress(self.stats)
        return self.stats

    async def run_concurrently(self, todo: Iterator[int]) -> None:
        """K workers pull record indices from one iterator; the first fatal error stops all.

        Store writes are group-committed by one flusher task: everything written during one
        turn of the event loop lands in one transaction on the next turn, so durability lags
        by microseconds, not by a batch size.
        """
        wake = asyncio.Event()
        with self.store.group_commit(on_write=wake.set):
            flusher = asyncio.create_task(self.flush_forever(wake))
            workers = asyncio.create_task(self.work_together(todo))
            try:
                await asyncio.wait([workers, flusher], return_when=asyncio.FIRST_COMPLETED)
                if flusher.done():
                    flusher.result()
                await workers
            finally:
                for task in (workers, flusher):
                    task.cancel()
                await asyncio.gather(workers, flusher, return_exceptions=True)

    async def work_together(self, todo: Iterator[int]) -> None:
        """K workers on one iterator; when one fails, the others are cancelled (gather would leave them running)."""
        workers = [asyncio.create_task(self.work(todo)) for _ in range(self.options.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def flush_forever(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            self.store.flush()

    async def work(self, todo: Iterator[int]) -> None:
        for index in todo:
            if self.caller.budget_reached():
                return  # no new records; the ones in flight finish their calls
            await self.process(index)

    async def tick(self) -> None:
        assert self.on_progress is not None
        while True:
            await asyncio.sleep(self.options.progress_interval)
            self.stats.server_down = self.caller.server_down()
            self.on_progress(self.stats)

    async def process(self, index: int) -> None:
        """Run one record through every stage; store it, or its failure with the reason.

        Only what a stage declares in `rejects` (and backend errors) fails the record; anything
        else is a bug and stops the run as StageFailed, naming the stage and the record.
        """
        record = self.pipeline.new_record(index)
        for stage in self.pipeline.stages:
            try:
                result = await self.run_stage(stage, record)
            except (AuthFailed, OutageTooLong):
                raise
            except BackendError as exc:
                self.fail(record, stage.name, exc.reason, str(exc), transient=exc.retryable)
                return
            except BudgetReached:
                return  # left unfinished, not failed: a re-run with more budget does it from the cache
            except stage.rejects as exc:
                self.fail(record, stage.name, "render_error", str(exc), transient=False)
                return
            except SynthloomError:
                raise
            except Exception as exc:
                raise StageFailed(stage.name, record.id, exc) from exc
            if isinstance(result, Rejected):
                record.fields.update(result.fields)
                self.fail(record, stage.name, result.reason, result.detail, transient=False)
                return
            record.fields.update(result)
        self.store.put_record(record)
        self.stats.kept += 1

    async def run_stage(self, stage: BuiltStage, record: Record) -> dict[str, Any] | Rejected:
        """Render, call, parse; repeat while parse asks for a follow-up request."""
        CURRENT_STAGE.set(stage.name)
        request = stage.render(record)
        if inspect.isawaitable(request):
            request = await request  # a check that runs something (code in a sandbox)
        if not isinstance(request, Request):
            return request  # a stage that needs no call (a retrieval, a check that already failed)
        for _ in range(self.options.max_calls_per_stage):
            canonical = request.canonical()
            key = request.cache_key(canonical)
            response, cached = await self.caller.call(request, key, canonical)
            record.lineage.append(lineage_entry(stage, request, key, response, cached))
            result = stage.parse(response, record)
            if not isinstance(result, Request):
                if response.reasoning is not None and isinstance(result, dict):  # the trace, a field for later steps
                    result = {**result, f"{stage.name}_reasoning": response.reasoning}
                return result
            request = result
        return Rejected("too_many_calls", f"stage {stage.name} asked for more than {self.options.max_calls_per_stage} calls")

    def fail(self, record: Record, stage: str, reason: str, detail: str, transient: bool) -> None:
        self.store.put_failure(record, stage, reason, detail, transient)
        self.stats.reasons[reason] += 1
        if transient:
            self.stats.failed += 1
        else:
            self.stats.rejected += 1


def lineage_entry(stage: BuiltStage, request: Request, key: str, response: Response, cached: bool) -> dict[str, Any]:
    """What produced one field: stage, template hash, model, params, seed, usage."""
    return {
        "stage": stage.name,
        "template": stage.fingerprint,
        "model": response.model or request.model,
        "params": {k: v for k, v in request.sampling_params().items() if k != "seed"} | request.extra,
        "seed": request.seed,
        "usage": response.usage.to_dict() | ({"batch": True} if response.batch else {}),
        "finish_reason": response.finish_reason,
        "request": key,
        "cached": cached,
    }
