"""Shard stores: what a worker of a distributed run writes, and merging it into the run's store.

A worker owns one shard store (OUT/shards/NAME/store.sqlite, locked while it writes). It looks
responses up in its shard and then, read-only, in the run's own store, so a resumed run pays for
nothing twice whichever worker a record lands on. The driver merges every shard into the run's
store (responses, records, failures; one transaction per shard) before it computes what is left
to do and after the workers finish; merging is idempotent, so a crash at any point of it is
repaired by the next run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from ..backends.base import Response
from ..errors import ConfigError
from .core import Store

__all__ = ["ShardStore", "merge_shards", "shard_counts", "SHARDS"]

SHARDS = "shards"


class ShardStore(Store):
    """A worker's store: writes to its shard, reads responses from the shard then the run's store."""

    def __init__(self, path: str | Path, base: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.lock_fd = os.open(Path(path).parent / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.lock_fd)
            raise ConfigError(f"{Path(path).parent} is in use by another worker") from None
        super().__init__(path)
        self.base = sqlite3.connect(f"file:{Path(base).resolve()}?mode=ro", uri=True) if Path(base).exists() else None

    def get_response(self, key: str) -> Response | None:
        found = super().get_response(key)
        if found is None and self.base is not None:
            row = self.base.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            found = Response.from_dict(orjson.loads(row[0])) if row else None
        return found

    def close(self) -> None:
        super().close()
        if self.base is not None:
            self.base.close()
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
        os.close(self.lock_fd)


def shard_dirs(out: Path) -> list[Path]:
    root = out / SHARDS
    return sorted(p for p in root.iterdir() if (p / Store.FILENAME).exists()) if root.is_dir() else []


def merge_shards(store: Store, out: Path, wait: float = 30.0) -> int:
    """Fold every shard of OUT into `store`, then delete it; the number of shards merged.

    A shard still locked by a worker (of a run that was killed while its workers went on) is
    waited for up to `wait` seconds, then it is an error: merging under a live writer loses writes.
    """
    merged = 0
    for shard in shard_dirs(out):
        fd = os.open(shard / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ConfigError(f"{shard} is still written by a worker of an earlier run; "
                                          "stop it (ray stop) and run again") from None
                    time.sleep(0.2)
            merge_one(store, shard / Store.FILENAME)
            shutil.rmtree(shard)
            merged += 1
        finally:
            os.close(fd)
    root = out / SHARDS
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    return merged


def merge_one(store: Store, path: Path) -> None:
    store.flush()
    db = store.db
    db.execute("ATTACH DATABASE ? AS shard", (str(path),))
    try:
        with store.transaction():
            db.execute("INSERT OR IGNORE INTO responses SELECT * FROM shard.responses")
            db.execute("INSERT OR REPLACE INTO records SELECT * FROM shard.records")
            db.execute("DELETE FROM failures WHERE idx IN (SELECT idx FROM shard.records)")
            db.execute("INSERT OR REPLACE INTO failures SELECT * FROM shard.failures "
                       "WHERE idx NOT IN (SELECT idx FROM records)")
    finally:
        db.execute("DETACH DATABASE shard")
    store.transient = {row[0] for row in db.execute("SELECT idx FROM failures WHERE transient = 1")}


def shard_counts(out: Path) -> dict[str, Any]:
    """Records kept and failed so far in the shards (read-only; for the progress bar)."""
    kept = failed = 0
    for shard in shard_dirs(out):
        try:
            db = sqlite3.connect(f"file:{(shard / Store.FILENAME).resolve()}?mode=ro", uri=True, timeout=1)
            try:
                kept += db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                failed += db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            continue
    return {"kept": kept, "failed": failed}
