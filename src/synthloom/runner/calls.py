"""LLM calls: the request cache, retries by error type, rate limits, AIMD gates, outages, budget.

Every call first looks in the store's request cache; a fresh response is written to the store
before it is used, so a crash at any point costs at most the requests in flight. Each attempt
waits for its backend's rate limit and a slot of its AIMD gate (limits.py), and gives the slot
back before any backoff sleep, so a shrunk limit leaves extra callers waiting.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ..backends.base import AuthFailed, BackendBase, BackendError, Request, Response
from ..cost.budget import Budget, BudgetLike
from ..store import CallStore
from .limits import AdaptiveConcurrency, ConcurrencyFigures, LimitSettings, RateLimit
from .options import DEFAULT, RunOptions, RunStats, backoff_delay
from .outage import OUTAGE_AFTER, OUTAGE_AFTER_MAX, OutageGuard, OutageTooLong

__all__ = ["Caller"]


class Caller:
    """Makes cached, retried, rate-limited calls to a run's backends, counting them in `stats`."""

    def __init__(self, backends: dict[str, BackendBase], store: CallStore, options: RunOptions | None = None,
                 budget: BudgetLike | None = None, limits: dict[str, LimitSettings] | None = None):
        self.backends = backends
        self.store = store
        self.options = options or RunOptions()
        self.budget = budget
        self.stats = RunStats(budget=budget if isinstance(budget, Budget) else None)  # a worker's client: the writer reports
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

    async def call(self, request: Request, key: str, canonical: str) -> tuple[Response, bool]:
        """The cached response, or a fresh one (retried by error type), stored before use."""
        cached = await self.store.fetch_response(key)
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
            held = await self.budget.reserve(request, backend.model_id, backend.priced_as_batch) if self.budget else 0.0
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
            await self.store.save_response(key, canonical, response)
            if self.budget:
                self.budget.settle(held, response, backend.model_id)
            self.count_usage(response)
            return response, False

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
            self.record_figures()

    async def send(self, backend: BackendBase, request: Request, gate: AdaptiveConcurrency,
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

    def budget_reached(self) -> bool:
        """Whether the budget (this run's, or the one a distributed run's workers share) is reached."""
        return bool(self.budget and self.budget.reached)

    def count_usage(self, response: Response) -> None:
        self.stats.prompt_tokens += response.usage.prompt_tokens
        self.stats.completion_tokens += response.usage.completion_tokens

    def record_figures(self) -> None:
        """Put the gates' and outage guards' figures into `stats`."""
        self.stats.concurrency = self.concurrency_figures()
        self.stats.outages = self.outage_figures()

    def server_down(self) -> float:
        """Seconds the longest current outage has lasted (0: every server answers)."""
        return max((guard.down_for() for guard in self.outages.values()), default=0.0)

    def concurrency_figures(self) -> dict[str, ConcurrencyFigures]:
        """What each backend's gate achieved: the default backend always, the others once called."""
        return {name: gate.figures(self.rates[name].waited if name in self.rates else 0.0)
                for name, gate in self.gates.items() if name == DEFAULT or gate.max_in_flight}

    def outage_figures(self) -> dict[str, dict[str, Any]]:
        """Per backend whose server went away during the run: how often, for how long, failures forgiven."""
        return {name: guard.figures() for name, guard in self.outages.items() if guard.outages}
