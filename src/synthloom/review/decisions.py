"""Writing human decisions: one short write transaction per action, appended to the log, with
each touched record's decisions in force folded again from the log (so undo is exact)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError

__all__ = ["DecisionLog", "row_signature", "fold", "ACTIONS", "DecisionError"]

ACTIONS = ("accept", "reject", "relabel", "edit")


class DecisionError(ValueError):
    """A decision that cannot be applied (unknown action, missing reason, a field the record lacks)."""


def row_signature(row_text: str | bytes) -> str:
    """What a decision was made on: a hash of the stored row's JSON text."""
    data = row_text.encode("utf-8") if isinstance(row_text, str) else row_text
    return hashlib.sha256(data).hexdigest()[:32]


def fold(decisions: Iterable[tuple]) -> dict[str, Any] | None:
    """A record's state from its decisions in force, oldest first: (action, field, value, reason,
    basis, reviewer, created). Only those made on the latest basis count."""
    decisions = list(decisions)
    if not decisions:
        return None
    basis = decisions[-1][4]
    state: dict[str, Any] = {"verdict": None, "reason": None, "edits": {}, "basis": basis}
    for action, field, value, reason, made_on, reviewer, created in decisions:
        if made_on != basis:
            continue
        if action in ("accept", "reject"):
            state["verdict"] = "accepted" if action == "accept" else "rejected"
            state["reason"] = reason if action == "reject" else None
        else:
            state["edits"][field] = orjson.loads(value)
        state["reviewer"], state["updated"] = reviewer, created
    return state


class DecisionLog:
    """The review tables of one run store, through a connection of its own (a run may be writing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA synchronous=NORMAL")  # as the run's own writes: a commit survives a killed process
            self.db.create_function("sig", 1, row_signature, deterministic=True)
            self.db.execute("SELECT 1 FROM decisions LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: no review tables ({exc}); open it with this synthloom first") from None

    def close(self) -> None:
        self.db.close()

    def current(self, indices: list[int], field: str | None = None) -> dict[int, tuple[str, str, str | None]]:
        """idx → (id, signature of the row as stored now, JSON type of `field` in it), kept or rejected;
        hashed and typed in SQL, so a bulk action on 100,000 records never holds their text."""
        wanted = orjson.dumps(indices).decode()
        path = "$." + json.dumps(field or "id")
        query = ("SELECT idx, id, sig(row), json_type(row, ?) FROM records WHERE idx IN (SELECT value FROM json_each(?)) "
                 "UNION ALL SELECT idx, id, sig(row), json_type(row, ?) FROM failures WHERE idx IN (SELECT value FROM json_each(?))")
        return {idx: (record_id, sig, kind) for idx, record_id, sig, kind in self.db.execute(query, (path, wanted, path, wanted))}

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
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = self.current(sorted(set(indices)), field if encoded_field(action) else None)
            if encoded_field(action):
                check_field(rows, field, action)  # type: ignore[arg-type]
            batch = self.db.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM decisions").fetchone()[0]
            encoded = orjson.dumps(value).decode() if encoded_field(action) else None
            self.db.executemany(
                "INSERT INTO decisions (batch, idx, id, action, field, value, reason, basis, reviewer, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(batch, idx, record_id, action, field if encoded is not None else None, encoded,
                  reason.strip() if action == "reject" and reason else None, sig, reviewer or None, now)
                 for idx, (record_id, sig, _) in rows.items()])
            self.refold(list(rows))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return {"batch": batch, "count": len(rows), "missing": len(set(indices)) - len(rows)}

    def undo(self) -> dict[str, Any] | None:
        """Take back the latest batch still in force; None when there is none."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            batch = self.db.execute("SELECT MAX(batch) FROM decisions WHERE undone IS NULL").fetchone()[0]
            if batch is None:
                self.db.execute("COMMIT")
                return None
            found = self.db.execute("SELECT action, COUNT(*) FROM decisions WHERE batch = ? GROUP BY action", (batch,)).fetchone()
            indices = [i for (i,) in self.db.execute("SELECT idx FROM decisions WHERE batch = ?", (batch,))]
            self.db.execute("UPDATE decisions SET undone = ? WHERE batch = ?", (time.time(), batch))
            self.refold(indices)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return {"batch": batch, "action": found[0], "count": found[1], "indices": indices}

    def refold(self, indices: list[int]) -> None:
        """Rewrite the review rows of these records from their decisions in force."""
        by_idx: dict[int, list[tuple]] = {idx: [] for idx in indices}
        ids: dict[int, str] = {}
        query = ("SELECT idx, id, action, field, value, reason, basis, reviewer, created FROM decisions "
                 "WHERE idx IN (SELECT value FROM json_each(?)) AND undone IS NULL ORDER BY idx, seq")
        for idx, record_id, *rest in self.db.execute(query, (orjson.dumps(indices).decode(),)):
            by_idx[idx].append(tuple(rest))
            ids[idx] = record_id
        upserts, deletes = [], []
        for idx, decisions in by_idx.items():
            state = fold(decisions)
            if state is None:
                deletes.append((idx,))
            else:
                upserts.append((idx, ids[idx], state["verdict"], state["reason"], orjson.dumps(state["edits"]).decode(),
                                state["basis"], state["reviewer"], state["updated"]))
        self.db.executemany("DELETE FROM review WHERE idx = ?", deletes)
        self.db.executemany("INSERT OR REPLACE INTO review VALUES (?, ?, ?, ?, ?, ?, ?, ?)", upserts)


def encoded_field(action: str) -> bool:
    return action in ("relabel", "edit")


def check_field(rows: dict[int, tuple[str, str, str | None]], field: str, action: str) -> None:
    """Relabel and edit only change a field the records have; an edit only a text field, a
    relabel only a single value (not a list or an object)."""
    for record_id, _, kind in rows.values():
        if field == "id" or kind is None:
            raise DecisionError(f"record {record_id} has no field {field!r}")
        if action == "edit" and kind != "text":
            raise DecisionError(f"{field!r} of record {record_id} is not text")
        if action == "relabel" and kind in ("object", "array"):
            raise DecisionError(f"{field!r} of record {record_id} is not a single label")
