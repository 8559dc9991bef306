"""How a run is driven (RunOptions), what it counted (RunStats), and the backoff rule."""

from __future__ import annotations

import random
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import BackendError, RateLimited
from ..cost.budget import Budget
from .limits import ConcurrencyFigures
from .outage import MAX_OUTAGE

__all__ = ["RunOptions", "RunStats", "backoff_delay", "DEFAULT", "CURRENT_STAGE"]

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
    reasons: Counter[str] = field(default_factory=Counter)
    budget: Budget | None = None  # dollars spent and the cap, when prices are known
    executor: dict[str, Any] | None = None  # where the records ran, when not in this process (Ray)
    concurrency: dict[str, ConcurrencyFigures] = field(default_factory=dict)  # per backend name that was called
    outages: dict[str, dict[str, Any]] = field(default_factory=dict)  # per backend whose server went away
    server_down: float = 0.0  # seconds the longest current outage has lasted (0: every server answers)
    batches: Any = None  # batch mode's BatchProgress (batch/progress.py), live
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


