"""The run store: one SQLite file (WAL) per output directory.

It holds the request cache (the exactly-once guarantee: a response is written the moment it
arrives, and a re-run finds it instead of paying again), finished records with lineage, and
failures with their reason. Schema changes go in MIGRATIONS, applied by PRAGMA user_version.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..backends.base import Response
from ..errors import ConfigError, RunStopped
from ..record import Record
from .keyfilter import KeyFilter
from .schema import MIGRATIONS, dumps, use_wal, write_failure_reason, write_transaction

__all__ = ["Store", "Failure"]

MAX_PENDING = 1000  # queued writes committed at once at the latest: memory stays flat however fast answers come


class Failure(dict[str, Any]):
    """A failed record as written to rejected.jsonl: id, index, stage, reason, detail, row."""


class Store:
    """SQLite access for one run directory. Not shared between threads."""

    FILENAME = "store.sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            # first: a connection that opens the file while another one sets it up waits for it
            self.db.execute("PRAGMA busy_timeout=10000")
            use_wal(self.db)
            # in WAL mode a commit survives a killed process; a power loss may drop the last
            # commits (paid for again on the re-run) but never corrupts the file
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a usable synthloom store ({exc})") from None
        self._transient = self.transient_indices()
        self._deferred = False
        self._on_write: Callable[[], None] | None = None
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._pending_responses: dict[str, str] = {}
        self._keys: KeyFilter | None = None  # built at the first look-up; None again when another connection wrote

    @classmethod
    def open_dir(cls, directory: str | Path) -> Store:
        return cls(Path(directory) / cls.FILENAME)

    def migrate(self) -> None:
        """Apply the missing migrations, all in one transaction. The version is read again under
        the write lock: two processes opening a new store at once migrate it once, not twice."""
        if self.schema_version() == len(MIGRATIONS):
            return
        with self.transaction():
            version = self.schema_version()
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ConfigError(f"{self.path} was written by a newer synthloom (schema {version})")
        return version

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with write_transaction(self.db):
                yield
        except sqlite3.OperationalError as exc:
            if write_failure_reason(exc):
                raise self.write_failure(exc) from None
            raise

    def write_failure(self, exc: sqlite3.Error) -> RunStopped:
        return RunStopped(f"cannot write {self.path}: {write_failure_reason(exc)}; every response stored before is kept: "
                           "make room and run the same command again (nothing stored is paid for twice)")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()

    @contextmanager
    def group_commit(self, on_write: Callable[[], None] | None = None) -> Iterator[None]:
        """Queue the writes of the block for `flush`, which commits them in one transaction;
        `on_write` is called when a write starts a new batch (to schedule that flush). Whatever
        is still queued is committed when the block ends."""
        self._deferred, self._on_write = True, on_write
        try:
            yield
        finally:
            self._deferred, self._on_write = False, None
            self.flush()

    def write(self, sql: str, args: tuple[Any, ...]) -> None:
        """Execute now, or, in a group commit, queue for the next flush (only an INSERT OR REPLACE:
        `flush` groups the queue by statement)."""
        if not self._deferred:
            try:
                self.db.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if write_failure_reason(exc):
                    raise self.write_failure(exc) from None
                raise
            return
        self._pending.append((sql, args))
        if len(self._pending) == 1 and self._on_write is not None:
            self._on_write()
        elif len(self._pending) >= MAX_PENDING:  # the loop never yielded to the flusher (an instant backend)
            self.flush()

    def flush(self) -> None:
        """Commit every queued write in one transaction (group commit)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        with self.transaction():
            # one executemany per statement, each in the order written (a statement per row was
            # a tenth of a fast run's CPU). Safe because every queued write is an INSERT OR
            # REPLACE into its own table (meta, responses, records, failures): a table's final
            # state depends only on the order of its own rows. Anything else is written at once.
            by_statement: dict[str, list[tuple[Any, ...]]] = {}
            for sql, args in batch:
                by_statement.setdefault(sql, []).append(args)
            for sql, rows in by_statement.items():
                self.db.executemany(sql, rows)
        self._pending_responses.clear()

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # request cache
    def get_response(self, key: str) -> Response | None:
        if self._keys is None:
            count = self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            self._keys = KeyFilter.of((k for (k,) in self.db.execute("SELECT key FROM responses")), count)
            for queued in self._pending_responses:  # written in this group commit, not committed yet
                self._keys.add(queued)
        if key not in self._keys:
            return None  # never stored through this object, nor before it looked
        text = self._pending_responses.get(key)
        if text is None:
            row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            text = row[0] if row else None
        return Response.from_dict(orjson.loads(text)) if text is not None else None

    def put_response(self, key: str, request_json: str, response: Response) -> None:
        """Store a response with the canonical JSON of the request that produced it."""
        text = dumps(response.to_dict())
        if self._keys is not None:
            self._keys.add(key)
        if self._deferred:
            self._pending_responses[key] = text
        self.write("INSERT OR REPLACE INTO responses (key, request, response, created) VALUES (?, ?, ?, ?)",
                   (key, request_json, text, time.time()))

    async def fetch_response(self, key: str) -> Response | None:
        """CallStore's look-up (store/protocol.py): the file is local, so it answers at once."""
        return self.get_response(key)

    async def save_response(self, key: str, request_json: str, response: Response) -> None:
        """CallStore's save: written now, or queued in order for this group commit's flush."""
        self.put_response(key, request_json, response)

    def get_request(self, key: str) -> dict[str, Any] | None:
        """The canonical request stored with a response (its messages are the exact prompt)."""
        self.flush()
        row = self.db.execute("SELECT request FROM responses WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def count_responses(self) -> int:
        self.flush()
        count: int = self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        return count

    # records and failures
    def finished_indices(self, n: int) -> set[int]:
        """Records below n that need no more work: kept, or rejected for a lasting reason."""
        self.flush()
        done = {r[0] for r in self.db.execute("SELECT idx FROM records WHERE idx < ?", (n,))}
        done |= {r[0] for r in self.db.execute("SELECT idx FROM failures WHERE idx < ? AND transient = 0", (n,))}
        return done

    def put_record(self, record: Record) -> None:
        args = (record.index, record.id, dumps(record.row()), dumps(record.lineage), time.time())
        if record.index in self._transient:
            self.flush()
            with self.transaction():
                self.db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)", args)
                self.db.execute("DELETE FROM failures WHERE idx = ?", (record.index,))
            self._transient.discard(record.index)
        else:
            self.write("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)", args)

    def put_failure(self, record: Record, stage: str, reason: str, detail: str, transient: bool) -> None:
        self.write(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.index, record.id, stage, reason, detail, int(transient), dumps(record.row()), time.time(),
             dumps(record.lineage)),
        )
        if transient:
            self._transient.add(record.index)

    def iter_rows(self, n: int) -> Iterator[dict[str, Any]]:
        for text in self.iter_row_texts(n):
            yield orjson.loads(text)

    def iter_row_texts(self, n: int) -> Iterator[str]:
        """Rows as the JSON text they are stored as, in record order (no re-encoding)."""
        self.flush()
        for (row,) in self.db.execute("SELECT row FROM records WHERE idx < ? ORDER BY idx", (n,)):
            yield row

    def iter_indexed_rows(self, n: int) -> Iterator[tuple[int, str]]:
        """(index, row JSON text) of the kept records, in record order."""
        self.flush()
        yield from self.db.execute("SELECT idx, row FROM records WHERE idx < ? ORDER BY idx", (n,))

    def iter_lineage_texts(self, n: int, skip: Container[int] = ()) -> Iterator[str]:
        """One JSON object per record: its id, row and the calls that made it."""
        self.flush()
        query = "SELECT idx, id, row, lineage FROM records WHERE idx < ? ORDER BY idx"
        for idx, record_id, row, lineage in self.db.execute(query, (n,)):
            if idx not in skip:
                yield f'{{"id":{dumps(record_id)},"row":{row},"calls":{lineage}}}'

    def iter_failures(self, n: int) -> Iterator[Failure]:
        self.flush()
        query = "SELECT idx, id, stage, reason, detail, transient, row FROM failures WHERE idx < ? ORDER BY idx"
        for idx, record_id, stage, reason, detail, transient, row in self.db.execute(query, (n,)):
            yield Failure(id=record_id, index=idx, stage=stage, reason=reason, detail=detail,
                          transient=bool(transient), row=orjson.loads(row))

    def iter_call_texts(self, n: int) -> Iterator[str]:
        """The lineage (JSON list of calls) of every record below n, kept or rejected, in order."""
        self.flush()
        query = ("SELECT idx, lineage FROM records WHERE idx < ? UNION ALL "
                 "SELECT idx, lineage FROM failures WHERE idx < ? ORDER BY idx")
        for _, lineage in self.db.execute(query, (n, n)):
            yield lineage

    def paid_usage(self) -> dict[str, tuple[int, int]]:
        """Model → (prompt, completion) tokens over every response this directory paid for,
        whichever run or record it was for (the request cache holds each exactly once)."""
        self.flush()
        query = ("SELECT json_extract(response, '$.model'), SUM(json_extract(response, '$.usage.prompt_tokens')), "
                 "SUM(json_extract(response, '$.usage.completion_tokens')) FROM responses GROUP BY 1")
        return {str(model or ""): (int(p or 0), int(c or 0)) for model, p, c in self.db.execute(query)}

    def paid_usage_detail(self) -> dict[tuple[str, bool], tuple[int, int, int, int]]:
        """(model, through a batch API) → (prompt, completion, cached, cache-write) tokens paid for."""
        self.flush()
        usage = "json_extract(response, '$.usage.{}')"
        query = (f"SELECT json_extract(response, '$.model'), coalesce(json_extract(response, '$.batch'), 0), "
                 f"SUM({usage.format('prompt_tokens')}), SUM({usage.format('completion_tokens')}), "
                 f"SUM(coalesce({usage.format('cached_tokens')}, 0)), SUM(coalesce({usage.format('cache_write_tokens')}, 0)) "
                 "FROM responses GROUP BY 1, 2")
        return {(str(model or ""), bool(batch)): (int(p or 0), int(c or 0), int(r or 0), int(w or 0))
                for model, batch, p, c, r, w in self.db.execute(query)}

    def counts(self, n: int) -> dict[str, int]:
        self.flush()
        kept = self.db.execute("SELECT COUNT(*) FROM records WHERE idx < ?", (n,)).fetchone()[0]
        failed = self.db.execute("SELECT COUNT(*) FROM failures WHERE idx < ?", (n,)).fetchone()[0]
        return {"kept": kept, "rejected": failed}

    def failure_counts(self, n: int) -> dict[tuple[str, str], int]:
        """(stage, reason) → how many records failed there for good (transient ones left out)."""
        self.flush()
        query = "SELECT stage, reason, COUNT(*) FROM failures WHERE idx < ? AND transient = 0 GROUP BY stage, reason"
        return {(stage, reason): count for stage, reason, count in self.db.execute(query, (n,))}

    def reload(self) -> None:
        """Re-read what another connection wrote (a distributed run's writer) into what is cached here."""
        self.flush()
        self._transient = self.transient_indices()
        self._keys = None

    def transient_indices(self) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT idx FROM failures WHERE transient = 1")}

    def merge_shard(self, path: Path) -> None:
        """Fold a worker's shard store into this one, in one transaction: its responses, its kept
        records (over a failure here), its failures where no record is kept. Idempotent."""
        self.flush()
        self._keys = None  # the shard's responses are new keys
        self.db.execute("ATTACH DATABASE ? AS shard", (str(path),))
        try:
            with self.transaction():
                self.db.execute("INSERT OR IGNORE INTO responses SELECT * FROM shard.responses")
                self.db.execute("INSERT OR REPLACE INTO records SELECT * FROM shard.records")
                self.db.execute("DELETE FROM failures WHERE idx IN (SELECT idx FROM shard.records)")
                self.db.execute("INSERT OR REPLACE INTO failures SELECT * FROM shard.failures "
                                "WHERE idx NOT IN (SELECT idx FROM records)")
        finally:
            self.db.execute("DETACH DATABASE shard")
        self._transient = self.transient_indices()

    def clear_records(self) -> None:
        """Forget records and failures (the recipe changed) but keep the paid-for responses."""
        self.flush()
        with self.transaction():
            self.db.execute("DELETE FROM records")
            self.db.execute("DELETE FROM failures")
        self._transient.clear()
