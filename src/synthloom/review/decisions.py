"""Human decisions: which actions there are and what each may change, checked before one short
write transaction per action appends them to the run store's decision log (store/decisions.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from ..store.decisions import Current, DecisionTables

__all__ = ["DecisionLog", "ACTIONS", "DecisionError"]

ACTIONS = ("accept", "reject", "relabel", "edit")


class DecisionError(ValueError):
    """A decision that cannot be applied (unknown action, missing reason, a field the record lacks)."""


class DecisionLog:
    """The review app's decisions on one run store: checked here, written by the store's DecisionTables."""

    def __init__(self, path: str | Path):
        self.tables = DecisionTables(path)

    def close(self) -> None:
        self.tables.close()

    def record(self, indices: list[int], action: str, *, field: str | None = None, value: Any = None,
               reason: str | None = None, reviewer: str | None = None) -> dict[str, Any]:
        """Apply one action to records (one batch, undone together); returns the batch and its size."""
        if action not in ACTIONS:
            raise DecisionError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        if action == "reject" and not (reason or "").strip():
            raise DecisionError("a rejection needs a reason")
        if encoded_field(action) and not field:
            raise DecisionError(f"{action} needs a field")
        if action == "edit" and not isinstance(value, str):
            raise DecisionError("an edit sets a text field to text")
        if action == "relabel" and not isinstance(value, (str, int, float, bool)):
            raise DecisionError("a relabel sets a single value (text, a number or true/false)")
        now = time.time()
        with self.tables.transaction():
            rows = self.tables.current(sorted(set(indices)), field if encoded_field(action) else None)
            if encoded_field(action):
                check_field(rows, field, action)  # type: ignore[arg-type]
            encoded = orjson.dumps(value).decode() if encoded_field(action) else None
            batch = self.tables.append(rows, action, field if encoded is not None else None, encoded,
                                       reason.strip() if action == "reject" and reason else None, reviewer or None, now)
        return {"batch": batch, "count": len(rows), "missing": len(set(indices)) - len(rows)}

    def undo(self) -> dict[str, Any] | None:
        """Take back the latest batch still in force; None when there is none."""
        return self.tables.undo()


def encoded_field(action: str) -> bool:
    return action in ("relabel", "edit")


def check_field(rows: Current, field: str, action: str) -> None:
    """Relabel and edit only change a field the records have; an edit only a text field, a
    relabel only a single value (not a list or an object)."""
    for record_id, _, kind in rows.values():
        if field == "id" or kind is None:
            raise DecisionError(f"record {record_id} has no field {field!r}")
        if action == "edit" and kind != "text":
            raise DecisionError(f"{field!r} of record {record_id} is not text")
        if action == "relabel" and kind in ("object", "array"):
            raise DecisionError(f"{field!r} of record {record_id} is not a single label")
