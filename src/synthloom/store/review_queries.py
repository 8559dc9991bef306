"""The review app's reads that join the index (review_index.py) with the decisions in force: which
records a filter matches, the decisions on a page or a record, counts by verdict, and
over-representation among a group of records. A decision is in force on a record only while its
`basis` is the signature of the row as stored now."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from .review_index import ReviewIndex

__all__ = ["RecordFilter", "DECISIONS", "matching", "decided", "review_of", "history", "decided_counts", "over_represented_rows",
           "verdicts_by_score", "decided_by_cluster"]

DECISIONS = ("undecided", "decided", "accepted", "rejected", "edited", "stale")
JOIN = "FROM ix.items i"  # decisions are looked up for the page's rows only: a join over every row costs
WORD = re.compile(r"\w+", re.UNICODE)
LIVE = "SELECT v.idx FROM main.review v JOIN ix.items x ON x.idx = v.idx AND x.sig = v.basis"
VERDICTS = {"decided": "v.verdict IS NOT NULL", "accepted": "v.verdict = 'accepted'", "rejected": "v.verdict = 'rejected'",
            "edited": "v.edits != '{}'"}


@dataclass
class RecordFilter:
    """Which records to list: each part narrows the set; all are done in SQL."""

    status: str | None = None  # kept | rejected (by the machine)
    decision: str | None = None  # one of DECISIONS
    reason: str | None = None  # the machine's rejection reason
    q: str | None = None  # words, searched with FTS5 (each a prefix)
    slots: dict[str, str] = field(default_factory=dict)
    scores: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    cluster: int | None = None
    ids: list[int] | None = None

    def where(self, index: ReviewIndex | None = None) -> tuple[str, list[Any]]:
        """SQL conditions on `ix.items i`; with the index, the rarest slot value drives the query."""
        clauses: list[str] = ["1"]
        args: list[Any] = []
        if self.status:
            clauses.append("i.status = ?")
            args.append(self.status)
        if self.reason:
            clauses.append("i.reason = ?")
            args.append(self.reason)
        narrower = bool(self.q or self.cluster is not None or self.ids is not None or self.scores)
        slots = list(self.slots.items())
        if len(slots) > 1 and index is not None:  # the rarest value drives, the others are probed per candidate
            slots.sort(key=lambda item: index.slot_count(*item))
        for position, (name, value) in enumerate(slots):
            clauses.append("i.idx IN (SELECT idx FROM ix.facets WHERE kind = 'slot' AND name = ? AND value = ?)" if position == 0
                           else "EXISTS (SELECT 1 FROM ix.facets f WHERE f.kind = 'slot' AND f.name = ? AND f.value = ? "
                                "AND f.idx = i.idx)")
            args += [name, value]
        if self.decision:
            clauses.append(decision_clause(self.decision, probe=narrower or bool(slots)))
        for name, (low, high) in self.scores.items():
            clauses.append("i.idx IN (SELECT idx FROM ix.facets WHERE kind = 'score' AND name = ? AND value >= ? AND value <= ?)")
            args += [name, -1e300 if low is None else low, 1e300 if high is None else high]
        if self.q:
            words = WORD.findall(self.q)
            if words:
                clauses.append("i.docid IN (SELECT rowid FROM ix.fts WHERE fts MATCH ?)")
                args.append(" ".join('"' + w.replace('"', '""') + '"*' for w in words))
        if self.cluster is not None:
            clauses.append("i.idx IN (SELECT idx FROM ix.clusters WHERE cluster = ?)")
            args.append(self.cluster)
        if self.ids is not None:
            clauses.append("i.idx IN (SELECT value FROM json_each(?))")
            args.append(orjson.dumps(self.ids).decode())
        return " AND ".join(clauses), args


def decision_clause(decision: str, probe: bool) -> str:
    """The person's decision as a condition: a set of records (when it is the main filter), or a
    look-up per candidate (when another filter already narrows the records down)."""
    if decision == "stale":
        return "i.idx IN (SELECT v.idx FROM main.review v JOIN ix.items x ON x.idx = v.idx AND x.sig != v.basis)"
    if decision == "undecided":
        return ("NOT EXISTS (SELECT 1 FROM main.review v WHERE v.idx = i.idx AND v.basis = i.sig)" if probe
                else f"i.idx NOT IN ({LIVE})")
    if probe:
        return f"EXISTS (SELECT 1 FROM main.review v WHERE v.idx = i.idx AND v.basis = i.sig AND {VERDICTS[decision]})"
    return f"i.idx IN ({LIVE} WHERE {VERDICTS[decision]})"


def matching(index: ReviewIndex, where: RecordFilter) -> list[int]:
    """Every record the filter matches, in record order."""
    sql, args = where.where(index)
    return [idx for (idx,) in index.db.execute(f"SELECT i.idx {JOIN} WHERE {sql} ORDER BY i.idx", args)]


def decided(index: ReviewIndex, indices: list[int]) -> dict[int, tuple[Any, ...]]:
    """idx → (verdict, reason, edits JSON, reviewer) in force, for those of these records decided on."""
    return {row[0]: row[1:] for row in index.db.execute(
        "SELECT v.idx, v.verdict, v.reason, v.edits, v.reviewer FROM main.review v JOIN ix.items x ON x.idx = v.idx "
        "AND x.sig = v.basis WHERE v.idx IN (SELECT value FROM json_each(?))", (orjson.dumps(indices).decode(),))}


def review_of(index: ReviewIndex, idx: int) -> tuple[Any, ...] | None:
    """(verdict, reason, edits JSON, basis, reviewer, updated) of a record, in force or stale."""
    found: tuple[Any, ...] | None = index.db.execute(
        "SELECT verdict, reason, edits, basis, reviewer, updated FROM main.review WHERE idx = ?", (idx,)).fetchone()
    return found


def history(index: ReviewIndex, idx: int) -> list[tuple[Any, ...]]:
    """Every decision on a record, undone ones too, oldest first: (action, field, value, reason, reviewer, created, undone)."""
    return index.db.execute("SELECT action, field, value, reason, reviewer, created, undone FROM main.decisions WHERE idx = ? "
                            "ORDER BY seq", (idx,)).fetchall()


def decided_counts(index: ReviewIndex) -> dict[str, int]:
    """Records by the verdict in force ('edited' for relabels and edits without one)."""
    return dict(index.db.execute("SELECT COALESCE(v.verdict, 'edited'), COUNT(*) FROM main.review v JOIN ix.items i "
                                 "ON i.idx = v.idx AND i.sig = v.basis GROUP BY 1").fetchall())


def over_represented_rows(index: ReviewIndex, group: list[int], minimum: int, top: int) -> list[tuple[Any, ...]]:
    """(kind, name, value, records with it, records of `group` with it) of the slot values, models,
    stages, templates and rejection steps at least `minimum` records of the group have, the most
    over-represented first."""
    query = f"""
        WITH g(idx) AS (SELECT value FROM json_each(?)),
             f(idx, kind, name, value) AS (SELECT idx, kind, name, value FROM ix.facets WHERE kind != 'score'
                                           UNION ALL SELECT idx, 'rejected at', stage, reason FROM ix.items WHERE stage IS NOT NULL)
        SELECT kind, name, value, COUNT(*) AS everywhere, SUM(idx IN g) AS flagged FROM f GROUP BY kind, name, value
        HAVING flagged >= ? ORDER BY (1.0 * flagged / everywhere) DESC, flagged DESC LIMIT {int(top)}"""
    return index.db.execute(query, (orjson.dumps(group).decode(), minimum)).fetchall()


def verdicts_by_score(index: ReviewIndex, name: str) -> list[tuple[Any, str, int]]:
    """(judge score, verdict, records) of the records a person accepted or rejected, for one score field."""
    return index.db.execute(
        "SELECT f.value, v.verdict, COUNT(*) FROM main.review v JOIN ix.items i ON i.idx = v.idx AND i.sig = v.basis "
        "JOIN ix.facets f ON f.idx = i.idx AND f.kind = 'score' AND f.name = ? WHERE v.verdict IS NOT NULL "
        "GROUP BY 1, 2", (name,)).fetchall()


def decided_by_cluster(index: ReviewIndex) -> dict[int, int]:
    """cluster → records in it with a verdict in force."""
    return dict(index.db.execute("SELECT c.cluster, COUNT(*) FROM ix.clusters c JOIN ix.items i ON i.idx = c.idx "
                                 "JOIN main.review v ON v.idx = c.idx AND v.basis = i.sig WHERE v.verdict IS NOT NULL "
                                 "GROUP BY c.cluster").fetchall())
