"""The review tables of a run store (`synthloom review`): the append-only log of human decisions, and
each record's decisions in force, folded again from the log whenever one of them changes (so undo
is exact). Which actions exist and what they may change is the review app's (review/decisions.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError
from .reader import connect_read_only
from .schema import write_transaction

__all__ = ["DecisionTables", "Current", "row_signature", "fold", "decisions_in_force"]

Current = dict[int, tuple[str, str, str | None]]  # idx → (id, signature of the stored row, JSON type of a field)


def row_signature(row_text: str | bytes) -> str:
    """What a decision was made on: a hash of the stored row's JSON text."""
    data = row_text.encode("utf-8") if isinstance(row_text, str) else row_text
    return hashlib.sha256(data).hexdigest()[:32]


def fold(decisions: Iterable[tuple[Any, ...]]) -> dict[str, Any] | None:
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


class DecisionTables:
    """The `decisions` and `review` tables of one run store, through a connection of its own (a run may be writing)."""

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

    def transaction(self) -> AbstractContextManager[None]:
        """One short write transaction: reads in it see what the writes will be made on."""
        return write_transaction(self.db)

    def current(self, indices: list[int], field: str | None = None) -> Current:
        """idx → (id, signature of the row as stored now, JSON type of `field` in it), kept or rejected;
        hashed and typed in SQL, so a bulk action on 100,000 records never holds their text."""
        wanted = orjson.dumps(indices).decode()
        path = "$." + json.dumps(field or "id")
        query = ("SELECT idx, id, sig(row), json_type(row, ?) FROM records WHERE idx IN (SELECT value FROM json_each(?)) "
                 "UNION ALL SELECT idx, id, sig(row), json_type(row, ?) FROM failures WHERE idx IN (SELECT value FROM json_each(?))")
        return {idx: (record_id, sig, kind) for idx, record_id, sig, kind in self.db.execute(query, (path, wanted, path, wanted))}

    def append(self, rows: Current, action: str, field: str | None, value: str | None, reason: str | None,
               reviewer: str | None, created: float) -> int:
        """Log one decision on each of these records, as one batch (undone together), and fold them
        again; call it in `transaction()`, after `current`. Returns the batch's number."""
        batch: int = self.db.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM decisions").fetchone()[0]
        self.db.executemany(
            "INSERT INTO decisions (batch, idx, id, action, field, value, reason, basis, reviewer, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(batch, idx, record_id, action, field, value, reason, sig, reviewer, created)
             for idx, (record_id, sig, _) in rows.items()])
        self.refold(list(rows))
        return batch

    def undo(self) -> dict[str, Any] | None:
        """Take back the latest batch still in force; None when there is none."""
        with self.transaction():
            batch = self.db.execute("SELECT MAX(batch) FROM decisions WHERE undone IS NULL").fetchone()[0]
            if batch is None:
                return None
            found = self.db.execute("SELECT action, COUNT(*) FROM decisions WHERE batch = ? GROUP BY action", (batch,)).fetchone()
            indices = [i for (i,) in self.db.execute("SELECT idx FROM decisions WHERE batch = ?", (batch,))]
            self.db.execute("UPDATE decisions SET undone = ? WHERE batch = ?", (time.time(), batch))
            self.refold(indices)
        return {"batch": batch, "action": found[0], "count": found[1], "indices": indices}

    def refold(self, indices: list[int]) -> None:
        """Rewrite the review rows of these records from their decisions in force."""
        by_idx: dict[int, list[tuple[Any, ...]]] = {idx: [] for idx in indices}
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


def decisions_in_force(path: Path) -> tuple[list[tuple[Any, ...]], str | None] | None:
    """Read-only: each reviewed record's review row (idx, id, verdict, reason, edits, basis, reviewer,
    updated) with its row and lineage as stored now, kept then rejected, and the stored recipe's
    JSON; None for a store from before reviews."""
    db = connect_read_only(path)
    try:
        rows = db.execute(
            "SELECT v.idx, v.id, v.verdict, v.reason, v.edits, v.basis, v.reviewer, v.updated, r.row, r.lineage, "
            "f.row, f.lineage FROM review v LEFT JOIN records r ON r.idx = v.idx LEFT JOIN failures f ON f.idx = v.idx "
            "ORDER BY v.idx").fetchall()
        recipe = db.execute("SELECT value FROM meta WHERE key = 'recipe'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # a store from before reviews: nothing decided
        raise ConfigError(f"cannot read the review decisions ({exc})") from None
    finally:
        db.close()
    return rows, recipe[0] if recipe else None
