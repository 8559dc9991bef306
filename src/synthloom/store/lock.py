"""Exclusive file locks (filelock's flock), and the run lock built on them: one synthloom run per
output directory, one worker per shard, no merge under a live worker."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from filelock import UnixFileLock

__all__ = ["RunLock", "hold_lock"]


def hold_lock(path: Path, wait: float = 0.0, on_acquired: Callable[[int], None] | None = None) -> UnixFileLock | None:
    """An exclusive lock on `path` (created, with its directory, if missing), held until its `release()`; None when
    another holder keeps it for more than `wait` seconds. flock locks an open file description and
    each call opens the file anew, so two holders exclude each other in one process too; the
    kernel drops the lock of a killed holder. `on_acquired(fd)` may write the file once it is held."""
    from filelock import Timeout, UnixFileLock  # 40 ms to import: only commands that lock pay for it

    # preserve_lock_file: the file stays (a waiter locks the same inode), and where flock is missing
    # it is an error rather than filelock's marker-file fallback, whose marker outlives a killed holder
    lock = UnixFileLock(path, thread_local=False, preserve_lock_file=True, on_acquired=on_acquired)
    try:
        lock.acquire(timeout=wait, poll_interval=0.2)
    except Timeout:
        return None
    return lock


class RunLock:
    """An exclusive lock on an output directory, so two runs never write one store."""

    def __init__(self, directory: Path):
        self.path = directory / ".lock"
        self.lock: Any | None = None

    def __enter__(self) -> RunLock:
        try:
            self.lock = hold_lock(self.path, on_acquired=write_pid)
        except OSError as exc:
            raise ConfigError(f"cannot write in {self.path.parent}: {exc.strerror}") from None
        if self.lock is None:
            raise ConfigError(f"{self.path.parent} is in use by another synthloom run (pid {holder(self.path)})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def write_pid(fd: int) -> None:
    with contextlib.suppress(OSError):  # the pid is for the message above; a full disk does not stop the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)


def holder(path: Path) -> str:
    """The pid the holder of a run lock wrote into it, or '?'."""
    try:
        return path.read_bytes()[:32].decode(errors="replace").strip() or "?"
    except OSError:
        return "?"
