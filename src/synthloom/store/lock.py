"""The run lock: one synthloom run per output directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["RunLock"]


class RunLock:
    """An exclusive lock on an output directory, so two runs never write one store."""

    def __init__(self, directory: Path):
        self.path = directory / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write in {self.path.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise ConfigError(f"{self.path.parent} is in use by another synthloom run (pid {holder})") from None
        with contextlib.suppress(OSError):  # the pid is for the message above; a full disk does not stop the lock
            os.ftruncate(self.fd, 0)
            os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
