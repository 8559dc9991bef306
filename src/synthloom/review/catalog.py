"""An in-memory index of a run's records beside a read-only connection to its store.

Filters and search must not parse every row per request, and the store must not be written
(a run may be writing it; the directory may be read-only). So one pass in SQL builds, in an
attached in-memory database: `items` (status, rejection step and reason, a hash of the row),
`facets` (slot values, judge scores, models, stages, templates: indexed) and a contentless
FTS5 index of every text. A later commit to the store (a run still going) adds the new rows.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..store.reader import connect_read_only
from .agreement import judge_fields
from .decisions import row_signature

__all__ = ["Catalog", "RunSchema"]

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
REFRESH_EVERY = 2.0  # seconds between looks at a store that a run is still writing
CACHED_FILTERS = 8


class RunSchema:
    """What the app needs to know of a run's fields: slots, judge score fields, text fields."""

    def __init__(self, run: Path, recipe: dict[str, Any] | None):
        info: dict[str, Any] = {}
        if (run / "run.json").is_file():
            try:
                info = json.loads((run / "run.json").read_text(encoding="utf-8"))
            except ValueError:
                info = {}
        schema = info.get("schema") or {}
        self.name = info.get("recipe") or (recipe or {}).get("name") or run.name
        self.slots = list(schema.get("slots") or (recipe or {}).get("slots") or {})
        self.scores = judge_fields(recipe, schema)
        self.text_fields = list(schema.get("text_fields") or [])
        self.stages = schema.get("stages") or []
        self.prices = (info.get("cost") or {}).get("prices") or {}
        self.dataset_steps = [s["name"] for s in self.stages if s.get("section") == "curate" and s.get("kind") == "dedup"]


class Catalog:
    """The read side of the review app: the store (read-only) plus the in-memory index."""

    def __init__(self, run: str | Path):
        self.run = Path(run)
        self.db = connect_read_only(self.run / "store.sqlite")
        self.db.isolation_level = None  # autocommit: an open transaction would freeze the view of the store
        self.db.create_function("sig", 1, row_signature, deterministic=True)
        self.db.execute("ATTACH ':memory:' AS ix")
        recipe = self.db.execute("SELECT value FROM meta WHERE key = 'recipe'").fetchone()
        self.recipe = orjson.loads(recipe[0]) if recipe else None
        self.schema = RunSchema(self.run, self.recipe)
        self.generation = 0
        self.version: int | None = None
        self.checked = 0.0
        self.latest = 0.0
        self.dropped: dict[int, dict[str, Any]] = {}
        self.dropped_mtime: float | None = None
        self.cache: OrderedDict[tuple, list[int]] = OrderedDict()
        self.facet_cache: tuple | None = None  # ((generation, epoch), the filter menus' counts)
        self.epoch = 0  # bumped by every change to the index this connection makes itself (data_version misses those)
        self.build()

    def close(self) -> None:
        self.db.close()

    def build(self) -> None:
        """Index every record from scratch (at start, or after a run cleared the records)."""
        self.db.execute("DETACH ix")
        self.db.execute("ATTACH ':memory:' AS ix")
        for statement in TABLES.split(";"):
            self.db.execute(statement)
        self.version = self.db.execute("PRAGMA data_version").fetchone()[0]
        self.latest = self.index_since(None)
        self.db.execute(FACET_INDEX)
        self.checked = time.monotonic()
        self.mark_dropped()

    def refresh(self) -> None:
        """Pick up what a run committed since the last look (at most every REFRESH_EVERY seconds)."""
        if time.monotonic() - self.checked < REFRESH_EVERY:
            return
        self.checked = time.monotonic()
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version == self.version and not self.dropped_changed():
            return
        self.version = version
        stored = self.db.execute("SELECT (SELECT COUNT(*) FROM records) + (SELECT COUNT(*) FROM failures)").fetchone()[0]
        if stored < self.count():
            self.build()  # records were cleared (the recipe changed): start over
            return
        self.latest = max(self.latest, self.index_since(self.latest))
        if stored != self.count():
            self.build()
            return
        self.mark_dropped()

    def matches(self, sql: str, args: list[Any], find: Callable[[], list[int]]) -> list[int]:
        """The record indices a filter matches, remembered until the store or the index changes
        (a decision, a run's commit, a refresh), so paging through a filter runs it once."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        key = (sql, tuple(args), version, self.generation, self.epoch)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = find()
            while len(self.cache) > CACHED_FILTERS:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        return found

    def touch(self) -> None:
        self.epoch += 1

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM ix.items").fetchone()[0]

    def index_since(self, after: float | None) -> float:
        """Index the rows committed after `after` (every row if None); the newest `created` seen."""
        self.generation += 1
        base = self.generation * GENERATION
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
            self.index_facets(table, where)
            found = self.db.execute(f"SELECT MAX(created) FROM main.{table}").fetchone()[0]
            newest = max(newest, found or 0.0)
        return newest

    def index_facets(self, table: str, where: str) -> None:
        for kind, names, value in (("slot", self.schema.slots, "CAST(COALESCE(e.atom, j.atom) AS TEXT)"),
                                   ("score", list(self.schema.scores), "COALESCE(e.atom, j.atom)")):
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

    def dropped_changed(self) -> bool:
        path = self.run / "rejected.jsonl"
        return (path.stat().st_mtime if path.is_file() else None) != self.dropped_mtime

    def mark_dropped(self) -> None:
        """Records the dataset-wide steps (dedup) dropped at export: kept in the store, rejected in rejected.jsonl."""
        path = self.run / "rejected.jsonl"
        mtime = path.stat().st_mtime if path.is_file() else None
        if mtime != self.dropped_mtime:
            self.dropped_mtime, self.dropped = mtime, {}
            marks = [f'"stage": {json.dumps(name)}'.encode() for name in self.schema.dataset_steps]
            if marks and mtime is not None:
                with open(path, "rb") as handle:
                    for line in handle:
                        if any(mark in line for mark in marks):
                            entry = orjson.loads(line)
                            self.dropped[entry["index"]] = entry
        self.touch()
        self.db.executemany("UPDATE ix.items SET status = 'rejected', stage = ?, reason = ?, detail = ? "
                            "WHERE idx = ? AND status = 'kept'",
                            [(e.get("stage"), e.get("reason"), e.get("detail"), idx) for idx, e in self.dropped.items()])

    def rows(self, indices: list[int]) -> dict[int, tuple[str, str]]:
        """idx → (row JSON, lineage JSON) as stored."""
        wanted = orjson.dumps(indices).decode()
        query = ("SELECT idx, row, lineage FROM main.records WHERE idx IN (SELECT value FROM json_each(?)) UNION ALL "
                 "SELECT idx, row, lineage FROM main.failures WHERE idx IN (SELECT value FROM json_each(?))")
        return {idx: (row, lineage) for idx, row, lineage in self.db.execute(query, (wanted, wanted))}
