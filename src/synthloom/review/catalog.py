"""The review app's view of a run: what it knows of the run's fields, and the store's index of its
records (store/review_index.py), kept up to date while a run still writes the store, with the
records that dataset-wide steps (dedup) dropped at export marked, and filter results remembered.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..store.review_index import ReviewIndex
from .agreement import judge_fields

__all__ = ["Catalog", "RunSchema"]

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
        self.index = ReviewIndex(self.run / "store.sqlite")
        recipe = self.index.meta("recipe")
        self.recipe = orjson.loads(recipe) if recipe else None
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
        self.index.close()

    def build(self) -> None:
        """Index every record from scratch (at start, or after a run cleared the records)."""
        self.index.reset()
        self.version = self.index.data_version()
        self.latest = self.index_since(None)
        self.index.index_values()
        self.checked = time.monotonic()
        self.mark_dropped()

    def refresh(self) -> None:
        """Pick up what a run committed since the last look (at most every REFRESH_EVERY seconds)."""
        if time.monotonic() - self.checked < REFRESH_EVERY:
            return
        self.checked = time.monotonic()
        version = self.index.data_version()
        if version == self.version and not self.dropped_changed():
            return
        self.version = version
        stored = self.index.stored()
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
        version = self.index.data_version()
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
        return self.index.count()

    def index_since(self, after: float | None) -> float:
        """Index the rows committed after `after` (every row if None); the newest `created` seen."""
        self.generation += 1
        return self.index.add(after, self.generation, self.schema.slots, list(self.schema.scores))

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
        self.index.mark_rejected(self.dropped)
