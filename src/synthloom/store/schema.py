"""The run database's schema (MIGRATIONS, applied by PRAGMA user_version) and the SQLite
settings and error readings every connection that writes it shares."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

__all__ = ["MIGRATIONS", "dumps", "use_wal", "write_transaction", "write_failure_reason"]

MIGRATIONS = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE responses (
        key TEXT PRIMARY KEY, request TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE records (
        idx INTEGER PRIMARY KEY, id TEXT NOT NULL, row TEXT NOT NULL, lineage TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE failures (
        idx INTEGER PRIMARY KEY, id TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL,
        detail TEXT NOT NULL, transient INTEGER NOT NULL, row TEXT NOT NULL, created REAL NOT NULL);
    """,
    # the calls a rejected record made, so what it cost is counted too
    """
    ALTER TABLE failures ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';
    """,
    # provider batches (store/batches.py): each batch's requests and tag are written before it is created
    """
    CREATE TABLE batches (
        tag TEXT PRIMARY KEY, provider TEXT NOT NULL, stage TEXT NOT NULL, lines INTEGER NOT NULL,
        batch_id TEXT, state TEXT NOT NULL, status TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL, updated REAL NOT NULL);
    CREATE TABLE batch_requests (
        tag TEXT NOT NULL, key TEXT NOT NULL, request TEXT NOT NULL, PRIMARY KEY (tag, key));
    CREATE INDEX batch_requests_key ON batch_requests (key);
    """,
    # human decisions (synthloom review): an append-only log, and each record's decisions in force
    # (derived from the log, so filters are a join, not a replay). `basis` is a hash of the row a
    # decision was made on: a later run that regenerates a record differently (a changed recipe)
    # leaves the old decisions in the log but no longer applies them.
    """
    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, batch INTEGER NOT NULL, idx INTEGER NOT NULL, id TEXT NOT NULL,
        action TEXT NOT NULL, field TEXT, value TEXT, reason TEXT, basis TEXT NOT NULL, reviewer TEXT,
        created REAL NOT NULL, undone REAL);
    CREATE INDEX decisions_by_idx ON decisions (idx, seq);
    CREATE INDEX decisions_by_batch ON decisions (batch);
    CREATE TABLE review (
        idx INTEGER PRIMARY KEY, id TEXT NOT NULL, verdict TEXT, reason TEXT, edits TEXT NOT NULL,
        basis TEXT NOT NULL, reviewer TEXT, updated REAL NOT NULL);
    CREATE INDEX review_by_verdict ON review (verdict);
    """,
]


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def use_wal(db: sqlite3.Connection, tries: int = 200) -> None:
    """Switch to WAL. On a new file that other processes open at the same moment, their switches
    collide and SQLite answers "database is locked" at once, without waiting: so try again."""
    for attempt in range(tries):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.01)


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE (the write lock at once, so reads in the block see what the writes are made
    on), committed when the block ends, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLITE_FULL may or may not have rolled it back already
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def write_failure_reason(exc: sqlite3.Error) -> str | None:
    """'no space left on device' for SQLITE_FULL, 'read-only file system' for SQLITE_READONLY, else None."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return "no space left on device"
    if code == sqlite3.SQLITE_READONLY:
        return "read-only file system"
    return None
