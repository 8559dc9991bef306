"""Where a run's records are generated: in this process (the default), or sharded over a Ray cluster.

Names are imported on first use: `synthloom.executors.RayExecutor` loads the Ray executor (and
run setup, which it imports) only when it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .base import Executor, LocalExecutor
    from .ray_executor import RayExecutor

__all__ = ["Executor", "LocalExecutor", "RayExecutor"]

__getattr__, __dir__ = lazy_attributes(__name__, {"Executor": ".base", "LocalExecutor": ".base", "RayExecutor": ".ray_executor"})
