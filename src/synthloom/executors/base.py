"""Where a run's records are generated: one protocol, a local executor and a Ray one.

Both run the same per-shard code (a Runner over a pipeline built from the RunPlan, calling
through a Caller on a store); they differ only in how the record indices are scheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..pipeline import Pipeline
from ..prepare.session import RunSession
from ..runner import Runner, RunStats

__all__ = ["Executor", "LocalExecutor", "ProgressCallback"]

ProgressCallback = Callable[[RunStats], None]


class Executor(Protocol):
    """Generates the records `todo` of a run whose store is open in `session`."""

    def describe(self) -> str:
        """Where the records run, in a few words (for messages)."""
        ...

    async def run(self, session: RunSession, pipeline: Pipeline, todo: list[int], total: int,
                  on_progress: ProgressCallback | None = None) -> None:
        """Generate `todo` (of `total` records) into the session's store; `session.stats` counts them."""
        ...


class LocalExecutor:
    """In this process, on its event loop: the default."""

    def describe(self) -> str:
        return "local"

    async def run(self, session: RunSession, pipeline: Pipeline, todo: list[int], total: int,
                  on_progress: ProgressCallback | None = None) -> None:
        await session.start_backends()
        await Runner(pipeline, session.caller, on_progress).run(todo, total=total)
