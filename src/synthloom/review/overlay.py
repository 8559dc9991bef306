"""The human decisions in force on a run, read-only: what export, report, train and run.json apply.

A person's rejection removes a record from the dataset; an acceptance of a record the machine
rejected (a filter, a judge, dedup) brings it back; relabels and edits replace field values.
Decisions made on a version of a record that a later run regenerated differently are kept in
the store but not applied (`stale`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..store.decisions import decisions_in_force, row_signature
from .agreement import judge_fields, summarise

__all__ = ["ReviewOverlay", "Decided", "review_summary"]

STORE = "store.sqlite"


@dataclass
class Decided:
    """One record's decisions in force, with the record as stored now."""

    idx: int
    id: str
    verdict: str | None
    reason: str | None
    edits: dict[str, Any]
    reviewer: str | None
    updated: float
    row: dict[str, Any]
    machine_rejected: bool
    calls: list[dict[str, Any]]

    def edited_row(self) -> dict[str, Any]:
        return {**self.row, **self.edits}


@dataclass
class ReviewOverlay:
    """Decisions in force by record id; empty for a run nobody reviewed (or an older store)."""

    decided: dict[str, Decided] = field(default_factory=dict)
    stale: int = 0
    recipe: dict[str, Any] | None = None

    @classmethod
    def load(cls, run: str | Path) -> ReviewOverlay:
        path = Path(run) / STORE
        found = decisions_in_force(path) if path.is_file() else None
        return cls.from_rows(*found) if found is not None else cls()

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]], recipe: str | None) -> ReviewOverlay:
        """From the store's decisions in force (store.decisions.decisions_in_force) and its recipe JSON."""
        overlay = cls()
        overlay.recipe = orjson.loads(recipe) if recipe else None
        for idx, record_id, verdict, reason, edits, basis, reviewer, updated, kept, kept_calls, failed, failed_calls in rows:
            text = kept if kept is not None else failed
            if text is None or row_signature(text) != basis:
                overlay.stale += 1
                continue
            overlay.decided[record_id] = Decided(idx, record_id, verdict, reason, orjson.loads(edits), reviewer, updated,
                                                 orjson.loads(text), kept is None,
                                                 orjson.loads((kept_calls if kept is not None else failed_calls) or "[]"))
        return overlay

    def __bool__(self) -> bool:
        return bool(self.decided)

    def apply(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with its relabels and edits; None when a person rejected it."""
        found = self.decided.get(row.get("id"))  # type: ignore[arg-type]
        if found is None:
            return row
        if found.verdict == "rejected":
            return None
        return {**row, **found.edits}

    def rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The dataset as a person left it: kept rows with decisions applied, then the records a
        person accepted that the dataset left out (curated out by a filter, judge or dedup)."""
        seen: set[str] = set()
        for row in rows:
            seen.add(row.get("id"))  # type: ignore[arg-type]
            applied = self.apply(row)
            if applied is not None:
                yield applied
        for found in self.restored(seen):
            yield found.edited_row()

    def restored(self, seen: set[str]) -> list[Decided]:
        return [d for d in self.decided.values() if d.verdict == "accepted" and d.id not in seen]

    def reviewed(self, record_id: str) -> bool:
        """A person checked this record and kept it (accepted, relabelled or edited, not rejected)."""
        found = self.decided.get(record_id)
        return found is not None and found.verdict != "rejected"

    def calls(self, record_id: str) -> list[dict[str, Any]] | None:
        found = self.decided.get(record_id)
        return found.calls if found is not None else None

    def rejections(self) -> list[dict[str, Any]]:
        """A person's rejections in the shape of rejected.jsonl entries (stage `review`)."""
        return [{"id": d.id, "index": d.idx, "stage": "review", "reason": d.reason or "rejected",
                 "detail": f"rejected by {d.reviewer or 'a reviewer'}", "transient": False, "row": d.row}
                for d in self.decided.values() if d.verdict == "rejected"]

    def summary(self, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        """run.json's `review`: counts of decisions in force, reviewers, judge–human agreement."""
        values = list(self.decided.values())
        fields = judge_fields(self.recipe, schema)
        pairs = [(name, d.row[name], d.verdict) for d in values if d.verdict for name in fields
                 if isinstance(d.row.get(name), (int, float)) and not isinstance(d.row.get(name), bool)]
        return {
            "reviewed": len(values),
            "accepted": sum(d.verdict == "accepted" for d in values),
            "rejected": sum(d.verdict == "rejected" for d in values),
            "restored": sum(d.verdict == "accepted" and d.machine_rejected for d in values),
            "relabelled_or_edited": sum(bool(d.edits) for d in values),
            "stale": self.stale,
            "reviewers": sorted({d.reviewer for d in values if d.reviewer}),
            "rejection_reasons": dict(sorted(count_reasons(values).items(), key=lambda kv: -kv[1])),
            "agreement": summarise(pairs, fields),
        }


def count_reasons(values: list[Decided]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in values:
        if d.verdict == "rejected":
            counts[d.reason or "rejected"] = counts.get(d.reason or "rejected", 0) + 1
    return counts


def review_summary(run: str | Path, schema: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """run.json's `review` section for a run directory (schema: run.json's, read when not given),
    or None when nobody reviewed it."""
    overlay = ReviewOverlay.load(run)
    if not overlay and not overlay.stale:
        return None
    info = Path(run) / "run.json"
    if schema is None and info.is_file():
        try:
            schema = json.loads(info.read_text(encoding="utf-8")).get("schema")
        except ValueError:
            schema = None
    return overlay.summary(schema)
