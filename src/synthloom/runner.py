"""The only place with concurrency, retries, backoff and rate limits.

Each record goes through the pipeline's stages in order. Every LLM call first looks in the
store's request cache; a fresh response is written to the store before it is used, so a crash
at any point costs at most the requests in flight. K workers pull records; each attempt at a
request waits for its backend's rate limit and a slot of its AIMD gate (limits.py), and gives
the slot back before any backoff sleep, so a shrunk limit leaves extra workers waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from jinja2 import TemplateError

from .backends.base import AuthFailed, Backend, BackendError, RateLimited, Request, Response
from .cost.budget import Budget, BudgetReached
from .limits import AdaptiveConcurrency, ConcurrencyFigures, LimitSettings, RateLimit
from .outage import MAX_OUTAGE, OUTAGE_AFTER, OUTAGE_AFTER_MAX, OutageGuard, OutageTooLong
from .pipeline import Pipeline
from .record import Record, Rejected
from .stages.base import Stage
from .store import Store

__all__ = ["Runner", "RunOptions", "RunStats", "backoff_delay", "DEFAULT"]

DEFAULT = ""  # the recipe's `backend`; named ones come from its `backends`
CURRENT_STAGE: ContextVar[str] = ContextVar("synthloom_stage", default="")  # the stage a backend call is for


@dataclass
class RunOptions:
    """How to drive the backend: parallelism, retries, backoff."""

    concurrency: int = 8
    sequential: bool = False
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    progress_interval: float = 0.2
    max_calls_per_stage: int = 64
    max_outage: float = MAX_OUTAGE  # seconds to wait for a server that went away before stopping the run


@dataclass
class RunStats:
    """Counters for the progress bar and the final summary."""

    total: int = 0
    already_done: int = 0
    kept: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    cached: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasons: Counter = field(default_factory=Counter)
    budget: Budget | None = None  # dollars spent and the cap, when prices are known
    executor: dict[str, Any] | None = None  # where the records ran, when not in this process (Ray)
    concurrency: dict[str, ConcurrencyFigures] = field(default_factory=dict)  # per backend name that was called
    outages: dict[str, dict[str, Any]] = field(default_factory=dict)  # per backend whose server went away
    server_down: float = 0.0  # seconds the longest current outage has lasted (0: every server answers)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def processed(self) -> int:
        return self.kept + self.rejected + self.failed

    @property
    def budget_reached(self) -> bool:
        return bool(self.budget and self.budget.reached)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def backoff_delay(attempt: int, error: BackendError, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor."""
    delay = rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, cap * 4))
    return delay


class Runner:
    """Drives records through a pipeline against one backend, writing everything to the store."""

    def __init__(
        self,
        pipeline: Pipeline | None,
        backend: Backend | dict[str, Backend],
        store: Store,
        options: RunOptions | None = None,
        on_progress: Callable[[RunStats], None] | None = None,
        budget: Budget | None = None,
        limits: dict[str, LimitSettings] | None = None,
    ):
        self.pipeline = pipeline
        self.backends = backend if isinstance(backend, dict) else {DEFAULT: backend}
        self.store = store
        self.options = options or RunOptions()
        self.on_progress = on_progress
        self.stats = RunStats(budget=budget)
        self.budget = budget
        self.rng = random.Random()
        limits = limits or {}
        slots = 1 if self.options.sequential else max(1, self.options.concurrency)
        settings = {name: limits.get(name, LimitSettings()) for name in self.backends}
        self.gates = {name: AdaptiveConcurrency(slots, adaptive=s.adaptive, latency_tolerance=s.latency_tolerance)
                      for name, s in settings.items()}
        self.rates = {name: RateLimit(s.rpm, s.tpm) for name, s in settings.items() if s.rpm or s.tpm}
        threshold = min(OUTAGE_AFTER_MAX, max(OUTAGE_AFTER, slots // 2))  # a dead server fails every request in flight
        self.outages = {name: OutageGuard(threshold=threshold, base=self.options.backoff_base,
                                          cap=min(10.0, self.options.backoff_max), max_outage=self.options.max_outage)
                        for name in self.backends}

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
            self.stats.concurrency = self.concurrency_figures()
            self.stats.outages = self.outage_figures()
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
        self.store.deferred, self.store.on_write = True, wake.set
        flusher = asyncio.create_task(self.flush_forever(wake))
        workers = asyncio.gather(*(self.work(todo) for _ in range(self.options.concurrency)))
        try:
            await asyncio.wait([workers, flusher], return_when=asyncio.FIRST_COMPLETED)
            if flusher.done():
                flusher.result()
            await workers
        finally:
            for task in (workers, flusher):
                task.cancel()
            await asyncio.gather(workers, flusher, return_exceptions=True)
            self.store.deferred, self.store.on_write = False, None
            self.store.flush()

    async def flush_forever(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            self.store.flush()

    async def work(self, todo: Iterator[int]) -> None:
        for index in todo:
            if self.stats.budget_reached:
                return  # no new records; the ones in flight finish their calls
            await self.process(index)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.progress_interval)
            self.stats.server_down = max((guard.down_for() for guard in self.outages.values()), default=0.0)
            self.on_progress(self.stats)  # type: ignore[misc]

    async def process(self, index: int) -> None:
        """Run one record through every stage; store it, or its failure with the reason."""
        record = self.pipeline.new_record(index)
        for stage in self.pipeline.stages:
            try:
                result = await self.run_stage(stage, record)
            except (TemplateError, ValueError) as exc:
                self.fail(record, stage.name, "render_error", str(exc), transient=False)
                return
            except (AuthFailed, OutageTooLong):
                raise
            except BackendError as exc:
                self.fail(record, stage.name, exc.reason, str(exc), transient=exc.retryable)
                return
            except BudgetReached:
                return  # left unfinished, not failed: a re-run with more budget does it from the cache
            if isinstance(result, Rejected):
                record.fields.update(result.fields)
                self.fail(record, stage.name, result.reason, result.detail, transient=False)
                return
            record.fields.update(result)
        self.store.put_record(record)
        self.stats.kept += 1

    async def run_stage(self, stage: Stage, record: Record) -> dict | Rejected:
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
            response, cached = await self.call(request, key, canonical)
            record.lineage.append(lineage_entry(stage, request, key, response, cached))
            result = stage.parse(response, record)
            if not isinstance(result, Request):
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

    async def call_all(self, requests: list[Request]) -> list[Response | None]:
        """Calls that belong to no record (a topic tree's nodes), at most `concurrency` at once;
        a request that still fails after its retries gives None."""
        limit = asyncio.Semaphore(1 if self.options.sequential else self.options.concurrency)

        async def one(request: Request) -> Response | None:
            async with limit:
                canonical = request.canonical()
                try:
                    return (await self.call(request, request.cache_key(canonical), canonical))[0]
                except (AuthFailed, OutageTooLong):
                    raise
                except BackendError as exc:
                    self.stats.reasons[exc.reason] += 1
                    return None

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            self.stats.concurrency = self.concurrency_figures()
            self.stats.outages = self.outage_figures()

    def concurrency_figures(self) -> dict[str, ConcurrencyFigures]:
        """What each backend's gate achieved: the default backend always, the others once called."""
        return {name: gate.figures(self.rates[name].waited if name in self.rates else 0.0)
                for name, gate in self.gates.items() if name == DEFAULT or gate.max_in_flight}

    def outage_figures(self) -> dict[str, dict[str, Any]]:
        """Per backend whose server went away during the run: how often, for how long, failures forgiven."""
        return {name: guard.figures() for name, guard in self.outages.items() if guard.outages}

    async def call(self, request: Request, key: str, canonical: str) -> tuple[Response, bool]:
        """The cached response, or a fresh one (retried by error type), stored before use."""
        cached = self.store.get_response(key)
        if cached is not None:
            self.stats.cached += 1
            self.count_usage(cached)
            return cached, True
        name = request.backend or DEFAULT
        backend, gate, rate, outage = self.backends[name], self.gates[name], self.rates.get(name), self.outages[name]
        attempt = 0
        while True:
            attempt += 1
            probe = await outage.admit()  # while the server is away, one probe at a time goes out
            held = self.budget.hold(request, backend.model_id) if self.budget else 0.0
            try:
                response = await self.send(backend, request, gate, rate)
            except BackendError as exc:
                if self.budget:
                    self.budget.release(held)
                if outage.failed(exc, probe) and exc.retryable:
                    attempt -= 1  # the server is away: not this record's fault, and admit() paces the next try
                    self.stats.retries += 1
                    continue
                if not exc.retryable or attempt >= self.options.max_attempts:
                    raise
                self.stats.retries += 1
                await asyncio.sleep(backoff_delay(attempt, exc, self.options.backoff_base, self.options.backoff_max, self.rng))
                continue
            except BaseException:
                outage.abandoned(probe)
                if self.budget:
                    self.budget.release(held)
                raise
            outage.answered(probe)
            self.store.put_response(key, canonical, response)
            if self.budget:
                self.budget.settle(held, response, backend.model_id)
            self.count_usage(response)
            return response, False

    async def send(self, backend: Backend, request: Request, gate: AdaptiveConcurrency,
                   rate: RateLimit | None) -> Response:
        """One attempt: wait for the rate limit, then for a slot, then for the answer."""
        if rate is None:
            async with gate.slot():
                self.stats.requests += 1
                return await backend.complete(request)
        tokens = rate.estimate(request)
        await rate.acquire(tokens)
        try:
            async with gate.slot():
                self.stats.requests += 1
                response = await backend.complete(request)
        except BaseException:
            rate.settle(tokens, None)
            raise
        rate.settle(tokens, response.usage)
        return response

    def count_usage(self, response: Response) -> None:
        self.stats.prompt_tokens += response.usage.prompt_tokens
        self.stats.completion_tokens += response.usage.completion_tokens


def lineage_entry(stage: object, request: Request, key: str, response: Response, cached: bool) -> dict:
    """What produced one field: stage, template hash, model, params, seed, usage."""
    return {
        "stage": getattr(stage, "name", "?"),
        "template": getattr(stage, "fingerprint", ""),
        "model": response.model or request.model,
        "params": {k: v for k, v in request.sampling_params().items() if k != "seed"} | request.extra,
        "seed": request.seed,
        "usage": {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens},
        "finish_reason": response.finish_reason,
        "request": key,
        "cached": cached,
    }
