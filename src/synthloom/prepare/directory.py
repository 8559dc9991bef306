"""A run's output directory, created and locked once, when a run first needs to write in it."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from ..errors import ConfigError
from ..store import RunLock

__all__ = ["RunDirectory"]


class RunDirectory:
    """OUT: `claim()` creates it and takes its lock (once); leaving the `with` block releases it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock: RunLock | None = None

    def claim(self) -> Path:
        if self.lock is None:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create output directory {self.path}: {exc.strerror}") from None
            lock = RunLock(self.path)
            lock.__enter__()
            self.lock = lock
        return self.path

    def release(self) -> None:
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
