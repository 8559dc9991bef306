"""Rate limits and adaptive concurrency: what the runner holds, per backend, around each request.

`RateLimit` paces requests and tokens to a provider's RPM and TPM before they are sent.
`AdaptiveConcurrency` is an AIMD gate, like TCP's congestion window: it halves the requests in
flight when the server says it has too many (429, 503, a timeout, rising latency) and adds one
back per round trip of the whole window, so an overloaded server gets fewer requests at once
instead of a storm of retries.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..backends.base import RateLimited, Request, ServerError, Timeout, Usage
from ..backends.tokens import reserve_prompt_tokens
from ..cost.budget import DEFAULT_COMPLETION_HOLD

__all__ = ["AdaptiveConcurrency", "ConcurrencyFigures", "LimitSettings", "RateLimit", "is_overload"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

BURST_SECONDS = 1.0  # a bucket holds this much refill, not a whole minute: providers also enforce over shorter windows
LATENCY_FLOOR = 0.5  # seconds: below this, latency never counts as rising (loopback jitter, tiny models)
LATENCY_ALPHA = 0.1  # weight of a new sample in the latency EWMA
LATENCY_WARMUP = 10  # samples before the latency signal is used
LATENCY_TOLERANCE = 3.0  # default: a smoothed latency 3x its recent low counts as overload
LATENCY_WINDOW = 200  # samples: the baseline is the lowest EWMA over the current and the previous window


@dataclass(frozen=True)
class LimitSettings:
    """One backend's limits, as the recipe's BackendSpec gives them."""

    rpm: int | None = None
    tpm: int | None = None
    adaptive: bool = True
    latency_tolerance: float | None = LATENCY_TOLERANCE


@dataclass
class ConcurrencyFigures:
    """What one backend's gate achieved, for RunStats and run.json."""

    configured: int
    final_limit: float
    mean_in_flight: float
    max_in_flight: int
    decreases: int
    rate_limited_waits_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Bucket:
    """A token bucket refilled continuously; taking from it may go into debt."""

    __slots__ = ("rate", "capacity", "level", "updated")

    def __init__(self, per_minute: float, burst_seconds: float, now: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.updated = now

    def take(self, amount: float, now: float) -> float:
        """Take `amount`; the seconds until the debt this leaves (if any) is paid back."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate) - amount
        self.updated = now
        return -self.level / self.rate if self.level < 0 else 0.0

    def give(self, amount: float, now: float) -> None:
        """Give back (or, negative, take more) without waiting."""
        self.take(-amount, now)
        self.level = min(self.level, self.capacity)


class RateLimit:
    """Requests and tokens per minute, as token buckets.

    A request takes its share at once, into debt if need be, and sleeps until the debt is paid:
    callers are served first come first served and no lock is needed. Its token share is an
    estimate made before sending (the prompt at 3 characters per token plus max_tokens, which is
    also how providers count a request against TPM); `settle` corrects it by the actual usage.
    """

    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, burst_seconds: float = BURST_SECONDS,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        now = clock()
        self.requests = _Bucket(rpm, burst_seconds, now) if rpm else None
        self.tokens = _Bucket(tpm, burst_seconds, now) if tpm else None
        self.clock, self.sleep = clock, sleep
        self.completion_guess = float(DEFAULT_COMPLETION_HOLD)  # for requests without max_tokens: learnt from usage
        self.waited = 0.0  # seconds requests spent waiting here, summed

    def estimate(self, request: Request) -> int:
        """Tokens to take before sending: a cheap overestimate, settled after the response."""
        if self.tokens is None:
            return 0
        return reserve_prompt_tokens(request) + (request.max_tokens or math.ceil(self.completion_guess))

    async def acquire(self, tokens: int = 0) -> None:
        """Take one request and `tokens`; wait until both buckets allow it."""
        now = self.clock()
        wait = self.requests.take(1, now) if self.requests else 0.0
        if self.tokens is not None:
            wait = max(wait, self.tokens.take(tokens, now))
        if wait <= 0:
            return
        self.waited += wait
        try:
            await self.sleep(wait)
        except BaseException:
            now = self.clock()
            if self.requests:
                self.requests.give(1, now)
            if self.tokens is not None:
                self.tokens.give(tokens, now)
            raise

    def settle(self, tokens: int, usage: Usage | None) -> None:
        """Replace an estimate by what was used: None for a failed attempt (its tokens come back;
        the request does not, as providers count failed requests too)."""
        if self.tokens is None:
            return
        if usage is None:
            self.tokens.give(tokens, self.clock())
            return
        if usage.total_tokens == 0:
            return  # a backend that reports no usage: the estimate stands
        self.tokens.give(tokens - usage.total_tokens, self.clock())
        self.completion_guess += 0.1 * (usage.completion_tokens - self.completion_guess)


def is_overload(error: BaseException | None) -> bool:
    """429, 503 or a timeout: the server has more than it can take.

    A ServerError carries no status; the openai backend's message starts with it.
    """
    if isinstance(error, (RateLimited, Timeout)):
        return True
    return isinstance(error, ServerError) and (getattr(error, "status", None) == 503 or str(error).startswith("HTTP 503"))


class AdaptiveConcurrency:
    """An AIMD gate: at most floor(limit) requests in flight.

    The limit starts at `start` (default: `maximum`, the run's --concurrency). Each success adds
    1/limit (about one per round trip of the whole window), up to `maximum`. An overload answer,
    or an EWMA of latency above `latency_tolerance` times its lowest recent value (and above
    half a second), halves it, never below 1 and at most once per window: only a request sent
    after the last cut can cut again, so one burst of 429s counts once. With `adaptive` off the
    limit stays at `maximum` and the figures are still kept.
    """

    def __init__(self, maximum: int, *, start: int | None = None, adaptive: bool = True,
                 latency_tolerance: float | None = LATENCY_TOLERANCE, clock: Clock = time.monotonic):
        self.maximum = max(1, maximum)
        self.limit = float(min(self.maximum, max(1, start or self.maximum)))
        self.slots = int(self.limit)
        self.adaptive = adaptive
        self.latency_tolerance = latency_tolerance
        self.clock = clock
        self.in_flight = self.max_in_flight = self.decreases = self.epoch = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.first: float | None = None  # when the first request went in
        self.changed = 0.0  # when in_flight last changed
        self.area = 0.0  # in_flight integrated over time
        self.ewma: float | None = None
        self.samples = 0
        self.lows = [math.inf, math.inf]  # lowest EWMA in the previous and the current window
        self.window_samples = LATENCY_WINDOW

    def slot(self) -> Slot:
        """`async with gate.slot():` around one attempt: waits for room, then judges the outcome."""
        return Slot(self)

    def figures(self, waited: float = 0.0) -> ConcurrencyFigures:
        now = self.clock() if self.in_flight else self.changed
        area = self.area + self.in_flight * (now - self.changed)
        span = now - self.first if self.first is not None else 0.0
        return ConcurrencyFigures(self.maximum, round(self.limit, 2), round(area / span, 2) if span > 0 else 0.0,
                                  self.max_in_flight, self.decreases, round(waited, 3))

    async def wait(self) -> tuple[int, float]:
        """Wait in line for a slot (handed over by `leave`); (epoch, time) of entry."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                now = self.clock()  # a slot was handed over just as this was cancelled
                self.release(now)
                self.wake(now)
            else:
                try:
                    self.waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        return self.epoch, self.clock()

    def add(self, now: float) -> None:
        if self.first is None:
            self.first = self.changed = now
        self.area += self.in_flight * (now - self.changed)
        self.changed = now
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def release(self, now: float) -> None:
        self.area += self.in_flight * (now - self.changed)
        self.changed = now
        self.in_flight -= 1

    def wake(self, now: float) -> None:
        while self.waiters and self.in_flight < self.slots:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.add(now)  # handed over: nobody can take it in between
                waiter.set_result(None)

    def leave(self, epoch: int, started: float, error: BaseException | None) -> None:
        """Give the slot back; a success may grow the limit, an overload may cut it."""
        now = self.clock()
        self.release(now)
        if self.adaptive:
            if error is None:
                self.succeeded(epoch, now - started)
            elif is_overload(error):
                self.cut(epoch)
        if self.waiters:
            self.wake(now)

    def succeeded(self, epoch: int, latency: float) -> None:
        if self.latency_tolerance is not None and self.latency_rose(latency):
            if epoch == self.epoch:
                self.cut(epoch)
                assert self.ewma is not None  # latency_rose has just set it
                self.lows = [self.ewma, self.ewma]  # react again only to a further rise, not to this level
                self.window_samples = 0
            return  # no growth while latency is up
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self.slots = int(self.limit)

    def cut(self, epoch: int) -> None:
        """Halve the limit, once per window: a request sent before the last cut cannot cut again."""
        if epoch != self.epoch:
            return
        self.epoch += 1
        if self.limit > 1.0:
            self.limit = max(1.0, self.limit * 0.5)
            self.slots = int(self.limit)
            self.decreases += 1

    def latency_rose(self, latency: float) -> bool:
        """Whether the latency EWMA is well above its lowest recent value.

        The baseline is the lowest EWMA, not the lowest single latency: a request's latency
        follows its output length, and any mix of short and long answers would look like a rise.
        """
        ewma = latency if self.ewma is None else self.ewma + LATENCY_ALPHA * (latency - self.ewma)
        self.ewma = ewma
        self.samples += 1
        if self.samples < LATENCY_WARMUP:
            return False
        self.window_samples += 1
        if self.window_samples > LATENCY_WINDOW:
            self.lows = [self.lows[1], ewma]
            self.window_samples = 1
        elif ewma < self.lows[1]:
            self.lows[1] = ewma
        return ewma > LATENCY_FLOOR and ewma > self.latency_tolerance * min(self.lows)  # type: ignore[operator]


class Slot:
    """One attempt's hold on a gate."""

    __slots__ = ("gate", "epoch", "started")

    def __init__(self, gate: AdaptiveConcurrency):
        self.gate = gate

    async def __aenter__(self) -> Slot:
        gate = self.gate
        if gate.in_flight < gate.slots and not gate.waiters:
            self.started = gate.clock()
            gate.add(self.started)
            self.epoch = gate.epoch
        else:
            self.epoch, self.started = await gate.wait()
        return self

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self.gate.leave(self.epoch, self.started, error)
