"""Shard stores: what a worker of a distributed run wrote before the one-writer design
(executors/ray_store.py: workers no longer open files of the run directory), and merging them
into the run's store, so a directory left by an older shared-filesystem run still resumes.

A worker owns one shard store (OUT/shards/NAME/store.sqlite, locked while it writes). It looks
responses up in its shard and then, read-only, in the run's own store, so a resumed run pays for
nothing twice whichever worker a record lands on. The driver merges every shard into the run's
store (responses, records, failures; one transaction per shard) before it computes what is left
to do and after the workers finish; merging is idempotent, so a crash at any point of it is
repaired by the next run.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..backends.base import Response
from ..errors import ConfigError
from .core import Store
from .lock import hold_lock
from .reader import StoreReader

__all__ = ["ShardStore", "merge_shards", "shard_counts", "SHARDS"]

SHARDS = "shards"


class ShardStore(Store):
    """A worker's store: writes to its shard, reads responses from the shard then the run's store."""

    def __init__(self, path: str | Path, base: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        lock = hold_lock(Path(path).parent / ".lock")
        if lock is None:
            raise ConfigError(f"{Path(path).parent} is in use by another worker")
        self.lock = lock
        try:
            super().__init__(path)
            self.base = StoreReader(base) if Path(base).exists() else None
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def for_worker(cls, out: Path, worker: int) -> ShardStore:
        """A new shard store in OUT/shards for worker number `worker`, reading OUT's store."""
        return cls(out / SHARDS / f"{worker:03d}-{time.time_ns()}" / cls.FILENAME, out / cls.FILENAME)

    def get_response(self, key: str) -> Response | None:
        found = super().get_response(key)
        if found is None and self.base is not None:
            found = self.base.get_response(key)
        return found

    def close(self) -> None:
        super().close()
        if self.base is not None:
            self.base.close()
        self.lock.release()


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
        lock = hold_lock(shard / ".lock", wait=wait)
        if lock is None:
            raise ConfigError(f"{shard} is still written by a worker of an earlier run; stop it (ray stop) and run again")
        try:
            store.merge_shard(shard / Store.FILENAME)
            shutil.rmtree(shard)
            merged += 1
        finally:
            lock.release()
    root = out / SHARDS
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    return merged


def shard_counts(out: Path) -> dict[str, int]:
    """Records kept and failed so far in the shards (read-only; for the progress bar)."""
    kept = failed = 0
    for shard in shard_dirs(out):
        try:
            reader = StoreReader(shard / Store.FILENAME, timeout=1)
        except ConfigError:
            continue  # being created, or merged and removed this moment
        try:
            counts = reader.counts()
        except ConfigError:
            continue
        finally:
            reader.close()
        kept, failed = kept + counts["kept"], failed + counts["rejected"]
    return {"kept": kept, "failed": failed}
