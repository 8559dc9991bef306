"""Reading a run's store without writing to it: exports and reports work on a finished run in a
read-only directory (an archive, a read-only mount) and never migrate or lock a live run's store;
a worker reads the run's cached responses, and the progress bar the shards' counts, the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from ..backends.base import Response
from ..errors import ConfigError

__all__ = ["StoreReader", "connect_read_only"]


class StoreReader:
    """A run store's meta values, stored requests and responses, and counts, read-only."""

    def __init__(self, path: str | Path, timeout: float = 5.0):
        self.path = Path(path)
        self.db = connect_read_only(self.path, timeout)

    def get_meta(self, key: str) -> str | None:
        row = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def get_request(self, key: str) -> dict[str, Any] | None:
        """The canonical request stored with a response (its messages are the exact prompt)."""
        row = self.query("SELECT request FROM responses WHERE key = ?", (key,))
        return orjson.loads(row[0]) if row else None

    def get_response(self, key: str) -> Response | None:
        row = self.query("SELECT response FROM responses WHERE key = ?", (key,))
        return Response.from_dict(orjson.loads(row[0])) if row else None

    def counts(self) -> dict[str, int]:
        """Records kept and rejected so far, all of them."""
        kept = self.query("SELECT COUNT(*) FROM records", ())
        rejected = self.query("SELECT COUNT(*) FROM failures", ())
        return {"kept": kept[0] if kept else 0, "rejected": rejected[0] if rejected else 0}

    def written(self) -> tuple[Any, ...]:
        """(count, newest `created`) of the records, then of the failures: changes whenever a run writes one."""
        found: tuple[Any, ...] = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM records), (SELECT MAX(created) FROM records), "
            "(SELECT COUNT(*) FROM failures), (SELECT MAX(created) FROM failures)").fetchone()
        return found

    def rows(self) -> list[tuple[int, str]]:
        """(idx, row JSON) of every record, kept or rejected, in index order."""
        found: list[tuple[int, str]] = self.db.execute(
            "SELECT idx, row FROM records UNION ALL SELECT idx, row FROM failures ORDER BY idx").fetchall()
        return found

    def query(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, args).fetchone()
            return row
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a readable synthloom store ({exc})") from None

    def close(self) -> None:
        self.db.close()


def connect_read_only(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """mode=ro; in a read-only directory with no write-ahead log left, immutable=1 (SQLite cannot
    create the -shm file a WAL database needs there, and with no log there is nothing it would add)."""
    if not path.is_file():
        raise ConfigError(f"{path}: not found")
    uri = path.resolve().as_uri()
    try:
        return checked(sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout))
    except sqlite3.DatabaseError as exc:
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size:
            raise ConfigError(f"{path}: cannot be read ({exc}); its write-ahead log {wal.name} is not checkpointed "
                              "and the directory cannot be written") from None
        first = exc
    try:
        return checked(sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout))
    except sqlite3.DatabaseError:
        raise ConfigError(f"{path}: not a usable synthloom store ({first})") from None


def checked(db: sqlite3.Connection) -> sqlite3.Connection:
    """The connection, once a first read shows it works (opening is lazy); closed if it does not."""
    try:
        db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db
