"""Server outages: tell a server that went away from one bad request, and pause a backend while it is away.

The runner holds one OutageGuard per backend around each attempt (next to its rate limit and AIMD
gate in limits.py): while the server is down one probe at a time goes out and the other requests
wait, without spending their retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..backends.base import BackendError, ServerError, Timeout, Unreachable

__all__ = ["MAX_OUTAGE", "OUTAGE_AFTER", "OUTAGE_AFTER_MAX", "OutageGuard", "OutageTooLong", "is_outage"]

Clock = Callable[[], float]

OUTAGE_AFTER = 3  # at least this many consecutive connection-level failures, with no answer between them, mean
OUTAGE_AFTER_MAX = 8  # the server is down; more with more in flight (all of them fail when it dies): concurrency / 2
MAX_OUTAGE = 900.0  # default seconds a run waits for a server that went away before it stops (everything saved)


class OutageTooLong(BackendError):
    """The server has been unreachable for longer than the run is allowed to wait: fatal for the run."""

    reason = "outage"


def is_outage(error: BaseException | None) -> bool:
    """A failure that says nothing about the request and everything about the server: it could not be
    reached, dropped the connection, or a proxy in front of it answered 502 or 504 (its upstream is
    gone). Not a timeout or a 503: a slow or overloaded server answers those too, the AIMD gate
    handles them, and their requests fail as they always have."""
    if isinstance(error, Unreachable):
        return True
    if isinstance(error, ServerError):
        message = str(error)
        return not message.startswith("HTTP ") or message.startswith(("HTTP 502", "HTTP 504"))
    return False


class OutageGuard:
    """Tells a server that went away from one bad request, and pauses a backend's requests while it is away.

    After `threshold` consecutive connection-level failures with no answer between them, the server
    is down: no request is sent except one probe at a time, the first after `base` seconds, then
    doubling up to `cap`; the other requests wait, and their failures while it is down do not count
    against their own retries, so a global outage cannot use up every record's attempts. The first
    answer of any kind (a completion, or a 4xx/500 that proves the server is there) ends the outage
    and lets everyone go. A server down for more than `max_outage` seconds stops the run with
    OutageTooLong: every record stored so far is kept, and a re-run continues.
    """

    def __init__(self, *, threshold: int = OUTAGE_AFTER, base: float = 0.5, cap: float = 10.0,
                 max_outage: float = MAX_OUTAGE, clock: Clock = time.monotonic):
        self.threshold = max(1, threshold)
        self.base, self.cap = base, max(base, cap)
        self.max_outage = max_outage
        self.clock = clock
        self.consecutive = 0
        self.down_since: float | None = None
        self.delay = base
        self.next_probe = 0.0
        self.probing = False
        self.outages = 0  # how many times the server went away
        self.down_seconds = 0.0  # summed over the outages that ended
        self.paused_failures = 0  # failures during outages, not counted against any record
        self.last_error = ""
        self._up: asyncio.Event | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def down_for(self) -> float:
        """Seconds the current outage has lasted (0 when the server is up)."""
        return self.clock() - self.down_since if self.down_since is not None else 0.0

    def figures(self) -> dict[str, Any]:
        return {"outages": self.outages, "seconds_down": round(self.down_seconds + self.down_for(), 1),
                "failures_during_outages": self.paused_failures}

    def up_event(self) -> asyncio.Event:
        if self._up is None:
            self._up = asyncio.Event()
            self._up.set()
        return self._up

    async def admit(self) -> bool:
        """Wait until a request may go out; True when it goes as the outage's probe."""
        while self.down_since is not None:
            now = self.clock()
            if now - self.down_since > self.max_outage:
                raise OutageTooLong(f"the server has not answered for {now - self.down_since:.0f}s "
                                    f"(last error: {self.last_error}); limit {self.max_outage:g}s (--max-outage)")
            if not self.probing and now >= self.next_probe:
                self.probing = True
                return True
            wait = max(0.01, self.next_probe - now) if not self.probing else self.cap
            wait = min(wait, max(0.01, self.max_outage - (now - self.down_since) + 0.01))
            try:
                await asyncio.wait_for(self.up_event().wait(), timeout=wait)
            except TimeoutError:
                pass
        return False

    def answered(self, probe: bool = False) -> None:
        """The server answered (a completion, or an error that is about the request)."""
        self.consecutive = 0
        if self.down_since is not None:
            self.down_seconds += self.clock() - self.down_since
            self.down_since = None
            self.probing = False
            self.delay = self.base
            self.up_event().set()
        elif probe:
            self.probing = False

    def abandoned(self, probe: bool) -> None:
        """A probe that ended without an answer or a failure (cancelled): let another one go."""
        if probe:
            self.probing = False

    def failed(self, error: BaseException, probe: bool = False) -> bool:
        """Judge a failed attempt; True when it belongs to an outage (not the record's fault).

        A timeout neither starts an outage nor ends one, but one during an outage is forgiven."""
        timeout = isinstance(error, Timeout)
        if not timeout and not is_outage(error):
            self.answered(probe)
            return False
        now = self.clock()
        if timeout and self.down_since is None:
            return False
        if not timeout:
            self.last_error = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        if self.down_since is not None:
            self.paused_failures += 1
            if probe:
                self.probing = False
                self.delay = min(self.cap, self.delay * 2)
                self.next_probe = now + self.delay
            return True
        self.consecutive += 1
        if self.consecutive < self.threshold:
            return False
        self.down_since, self.outages = now, self.outages + 1
        self.delay, self.next_probe, self.probing = self.base, now + self.base, False
        self.paused_failures += 1
        self.up_event().clear()
        return True
