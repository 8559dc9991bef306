"""Where a run's records are generated: in this process (the default), or sharded over a Ray cluster.

Names are imported on first use: run setup imports `executors.shards` without the executors
(which import run setup back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .base import Executor, LocalExecutor
    from .ray_executor import RayExecutor

__all__ = ["Executor", "LocalExecutor", "RayExecutor"]

__getattr__, __dir__ = lazy_attributes(__name__, {"Executor": ".base", "LocalExecutor": ".base", "RayExecutor": ".ray_executor"})
