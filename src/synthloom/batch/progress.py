"""What a batch-mode run shows while it waits, and what run.json records of its batches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchProgress"]


@dataclass
class BatchProgress:
    """Batches submitted (or found again) by this run, where they are, and how long it waited."""

    submitted: int = 0  # created by this run
    resumed: int = 0  # left by an earlier run and followed by this one
    in_progress: int = 0
    completed: int = 0
    failed: int = 0  # refused, never created, or not ours after all
    requests_sent: int = 0  # lines in the batches this run created
    requests_done: int = 0  # answers stored from batches
    lines_not_run: int = 0  # expired, cancelled or unreadable lines, sent again in a later batch
    malformed_lines: int = 0
    polls: int = 0
    waiting_since: float | None = None
    waited: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def wait_started(self) -> None:
        if self.in_progress == 1 and self.waiting_since is None:
            self.waiting_since = time.monotonic()

    def wait_ended(self) -> None:
        if self.in_progress == 0 and self.waiting_since is not None:
            self.waited += time.monotonic() - self.waiting_since
            self.waiting_since = None

    @property
    def seconds_waiting(self) -> float:
        return self.waited + (time.monotonic() - self.waiting_since if self.waiting_since is not None else 0.0)

    def line(self) -> str:
        """For the progress bar: 'batches 2 in progress, 3 done, 0 failed · 1,200 answers · waiting 42s'."""
        return (f"batches {self.in_progress} in progress, {self.completed} done, {self.failed} failed · "
                f"{self.requests_done:,} answers · waiting {self.seconds_waiting:.0f}s")

    def to_dict(self, batches: list[dict[str, Any]]) -> dict[str, Any]:
        figures = {name: getattr(self, name) for name in ("submitted", "resumed", "in_progress", "completed", "failed",
                                                          "requests_sent", "requests_done", "lines_not_run",
                                                          "malformed_lines", "polls")}
        return {**figures, "seconds_waiting": round(self.seconds_waiting, 3), "warnings": self.warnings, "batches": batches}
