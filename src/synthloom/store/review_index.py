"""The review app's index of a run store: a read-only connection to the store with an in-memory
database attached (`ix`), filled from it in SQL.

Filters and search must not parse every row per request, and the store must not be written
(a run may be writing it; the directory may be read-only). So one pass in SQL builds `items`
(status, rejection step and reason, a hash of the row), `facets` (slot values, judge scores,
models, stages, templates: indexed) and a contentless FTS5 index of every text; a later commit
to the store (a run still going) is added the same way. The reads that join the index with the
decisions in force are in review_queries.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from .decisions import row_signature
from .reader import connect_read_only

__all__ = ["ReviewIndex"]

TABLES = """
    CREATE TABLE ix.items (idx INTEGER PRIMARY KEY, id TEXT NOT NULL, status TEXT NOT NULL, stage TEXT, reason TEXT,
        detail TEXT, transient INTEGER NOT NULL, sig TEXT NOT NULL, docid INTEGER NOT NULL);
    CREATE INDEX ix.items_by_status ON items (status, idx);
    CREATE INDEX ix.items_by_reason ON items (reason, idx);
    CREATE TABLE ix.facets (idx INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, value);
    CREATE VIRTUAL TABLE ix.fts USING fts5(body, content='', tokenize='unicode61 remove_diacritics 2');
    CREATE TABLE ix.clusters (idx INTEGER PRIMARY KEY, cluster INTEGER NOT NULL);
    CREATE INDEX ix.clusters_by_cluster ON clusters (cluster, idx)
"""
SOURCES = {  # table → (status, columns for stage, reason, detail, transient)
    "records": ("kept", "NULL, NULL, NULL, 0"),
    "failures": ("rejected", "stage, reason, detail, transient"),
}
GENERATION = 1 << 32  # FTS doc ids: generation * GENERATION + idx, so a re-indexed record gets a fresh one
FACET_INDEX = "CREATE INDEX ix.facets_by_value ON facets (kind, name, value, idx)"  # after the bulk load: 2x faster
ITEM = "idx, id, status, stage, reason, detail"


class ReviewIndex:
    """A run store, read-only, and the in-memory index of its records beside it."""

    def __init__(self, path: str | Path):
        self.db = connect_read_only(Path(path))
        self.db.isolation_level = None  # autocommit: an open transaction would freeze the view of the store
        self.db.create_function("sig", 1, row_signature, deterministic=True)
        self.db.execute("ATTACH ':memory:' AS ix")

    def close(self) -> None:
        self.db.close()

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row a query answers."""
        return self.db.execute(sql, args).fetchone()[0]

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def data_version(self) -> int:
        """Changes when another connection (a run) commits to the store."""
        version: int = self.one("PRAGMA data_version")
        return version

    def stored(self) -> int:
        """Records kept and rejected in the store."""
        total: int = self.one("SELECT (SELECT COUNT(*) FROM records) + (SELECT COUNT(*) FROM failures)")
        return total

    def count(self) -> int:
        """Records in the index."""
        total: int = self.one("SELECT COUNT(*) FROM ix.items")
        return total

    def reset(self) -> None:
        """An empty index, to fill from scratch."""
        self.db.execute("DETACH ix")
        self.db.execute("ATTACH ':memory:' AS ix")
        for statement in TABLES.split(";"):
            self.db.execute(statement)

    def index_values(self) -> None:
        """The facets' value index, made once after the first bulk load."""
        self.db.execute(FACET_INDEX)

    def add(self, after: float | None, generation: int, slots: list[str], scores: list[str]) -> float:
        """Index the rows committed after `after` (every row if None) with this generation's FTS doc
        ids, with these slot and judge score fields as facets; the newest `created` seen."""
        base = generation * GENERATION
        newest = after or 0.0
        for table, (status, columns) in SOURCES.items():
            where = "" if after is None else f"WHERE created > {float(after)!r}"
            fresh = f"(SELECT idx FROM main.{table} {where})"
            if after is not None:
                self.db.execute(f"DELETE FROM ix.facets WHERE idx IN {fresh}")
            self.db.execute(f"INSERT OR REPLACE INTO ix.items SELECT idx, id, '{status}', {columns}, sig(row), {base} + idx "
                            f"FROM main.{table} {where}")
            self.db.execute(f"""INSERT INTO ix.fts (rowid, body) SELECT {base} + r.idx,
                (SELECT group_concat(t.atom, ' ') FROM json_tree(r.row) t WHERE t.type = 'text' AND t.key != 'id')
                FROM main.{table} r {where}""")
            self.add_facets(table, where, slots, scores)
            found = self.one(f"SELECT MAX(created) FROM main.{table}")
            newest = max(newest, found or 0.0)
        return newest

    def add_facets(self, table: str, where: str, slots: list[str], scores: list[str]) -> None:
        for kind, names, value in (("slot", slots, "CAST(COALESCE(e.atom, j.atom) AS TEXT)"),
                                   ("score", scores, "COALESCE(e.atom, j.atom)")):
            if not names:
                continue
            self.db.execute(f"""INSERT INTO ix.facets SELECT r.idx, '{kind}', j.key, {value}
                FROM main.{table} r, json_each(r.row) j
                     LEFT JOIN json_each(CASE WHEN j.type = 'array' THEN j.value ELSE '[]' END) e
                {where} {'AND' if where else 'WHERE'} j.key IN ({', '.join('?' * len(names))})
                    AND COALESCE(e.atom, j.atom) IS NOT NULL""", names)
        for kind, name, value in (("model", "''", "$.model"), ("stage", "''", "$.stage"),
                                  ("template", "json_extract(c.value, '$.stage')", "$.template")):
            self.db.execute(f"""INSERT INTO ix.facets SELECT DISTINCT r.idx, '{kind}', {name}, json_extract(c.value, '{value}')
                FROM main.{table} r, json_each(r.lineage) c {where}""")

    def mark_rejected(self, entries: Mapping[int, Mapping[str, Any]]) -> None:
        """Show kept records as rejected by a step that ran over the whole dataset (rejected.jsonl entries by idx)."""
        self.db.executemany("UPDATE ix.items SET status = 'rejected', stage = ?, reason = ?, detail = ? "
                            "WHERE idx = ? AND status = 'kept'",
                            [(e.get("stage"), e.get("reason"), e.get("detail"), idx) for idx, e in entries.items()])

    def rows(self, indices: list[int]) -> dict[int, tuple[str, str]]:
        """idx → (row JSON, lineage JSON) as stored."""
        wanted = orjson.dumps(indices).decode()
        query = ("SELECT idx, row, lineage FROM main.records WHERE idx IN (SELECT value FROM json_each(?)) UNION ALL "
                 "SELECT idx, row, lineage FROM main.failures WHERE idx IN (SELECT value FROM json_each(?))")
        return {idx: (row, lineage) for idx, row, lineage in self.db.execute(query, (wanted, wanted))}

    def first(self, limit: int, offset: int) -> list[int]:
        """A page of every indexed record, in record order."""
        return [i for (i,) in self.db.execute("SELECT idx FROM ix.items ORDER BY idx LIMIT ? OFFSET ?", (limit, offset))]

    def items(self, indices: list[int]) -> list[tuple[Any, ...]]:
        """(idx, id, status, stage, reason, detail) of these records, in record order."""
        return self.db.execute(f"SELECT {ITEM} FROM ix.items WHERE idx IN (SELECT value FROM json_each(?)) ORDER BY idx",
                               (orjson.dumps(indices).decode(),)).fetchall()

    def item(self, idx: int) -> tuple[Any, ...] | None:
        """(idx, id, status, stage, reason, detail, transient, sig) of one record."""
        found: tuple[Any, ...] | None = self.db.execute(f"SELECT {ITEM}, transient, sig FROM ix.items WHERE idx = ?",
                                                        (idx,)).fetchone()
        return found

    def stored_call(self, key: str | None) -> tuple[str, str] | None:
        """(request JSON, response JSON) of a stored call."""
        found: tuple[str, str] | None = self.db.execute("SELECT request, response FROM main.responses WHERE key = ?",
                                                        (key,)).fetchone()
        return found

    def slot_count(self, name: str, value: str) -> int:
        count: int = self.one("SELECT COUNT(*) FROM ix.facets WHERE kind = 'slot' AND name = ? AND value = ?", (name, value))
        return count

    def slot_values(self, name: str, top: int = 200) -> list[tuple[Any, int]]:
        """The commonest values of a slot, with their counts."""
        return self.db.execute("SELECT value, COUNT(*) FROM ix.facets WHERE kind = 'slot' AND name = ? GROUP BY "
                               "value ORDER BY COUNT(*) DESC, value LIMIT ?", (name, top)).fetchall()

    def reasons(self) -> list[tuple[str, int]]:
        """Rejection reasons with their counts, commonest first."""
        return self.db.execute("SELECT reason, COUNT(*) FROM ix.items WHERE reason IS NOT NULL GROUP BY reason "
                               "ORDER BY COUNT(*) DESC").fetchall()

    def statuses(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM ix.items GROUP BY status").fetchall())

    def count_of(self, indices: list[int]) -> int:
        """How many of these records are indexed."""
        count: int = self.one("SELECT COUNT(*) FROM ix.items WHERE idx IN (SELECT value FROM json_each(?))",
                              (orjson.dumps(indices).decode(),))
        return count

    def set_clusters(self, labels: Mapping[int, int]) -> None:
        """idx → cluster, replacing the clusters found before."""
        self.db.execute("DELETE FROM ix.clusters")
        self.db.executemany("INSERT INTO ix.clusters VALUES (?, ?)", labels.items())
