"""The run store package: everything that reads or writes a run's SQLite database.

core.py is the run's store (request cache, records, failures, meta, migrations), shards.py the
stores the workers of a distributed run write and their merge, reader.py the read-only view
that export and report use, lock.py the run lock, batches.py the provider batches' ledger,
decisions.py the human decisions of `synthloom review`, review_index.py and review_queries.py
the review app's read-only index of the records and its queries.
"""

from __future__ import annotations

from .core import Failure, Store
from .lock import RunLock
from .protocol import CallStore
from .reader import StoreReader
from .schema import MIGRATIONS
from .shards import SHARDS, ShardStore, merge_shards, shard_counts

__all__ = ["Store", "CallStore", "Failure", "RunLock", "MIGRATIONS", "StoreReader", "ShardStore", "merge_shards", "shard_counts",
           "SHARDS"]
