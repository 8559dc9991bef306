"""Where a run's records are generated: in this process (the default), or sharded over a Ray cluster."""

from .base import Executor, LocalExecutor
from .ray_executor import RayExecutor

__all__ = ["Executor", "LocalExecutor", "RayExecutor"]
