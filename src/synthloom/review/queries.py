"""The review app's reads, in SQL over the catalog: filtered pages, one record in full, facet
counts, over-representation among flagged records, and judge–human agreement."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..cost.prices import PriceTable
from ..recipe.model import Price
from .agreement import agreement
from .catalog import Catalog

__all__ = ["Filter", "FilterError", "page", "record_detail", "facet_counts", "over_represented", "agreement_figures",
           "matching_indices"]

MAX_LIMIT = 200
SNIPPET = 280
DECISIONS = ("undecided", "decided", "accepted", "rejected", "edited", "stale")
JOIN = "FROM ix.items i"  # decisions are looked up for the page's rows only: a join over every row costs
SECRET_KEYS = {"api_key", "authorization", "headers", "api_key_env", "token", "base_url"}  # a URL may hold user:key@
WORD = re.compile(r"\w+", re.UNICODE)


class FilterError(ValueError):
    """A filter the app cannot apply (an unknown slot, a bad number): answered with HTTP 400."""


@dataclass
class Filter:
    """Which records to list: each part narrows the set; all are done in SQL."""

    status: str | None = None  # kept | rejected (by the machine)
    decision: str | None = None  # one of DECISIONS
    reason: str | None = None  # the machine's rejection reason
    q: str | None = None  # words, searched with FTS5 (each a prefix)
    slots: dict[str, str] = field(default_factory=dict)
    scores: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    cluster: int | None = None
    ids: list[int] | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any], catalog: Catalog) -> Filter:
        """From query parameters (or a JSON object): status, decision, reason, q, cluster, ids,
        slot.NAME=value, score.NAME=min..max."""
        found = cls(status=params.get("status") or None, decision=params.get("decision") or None,
                    reason=params.get("reason") or None, q=(params.get("q") or "").strip() or None)
        if found.status not in (None, "kept", "rejected"):
            raise FilterError(f"status: {found.status!r} is not kept or rejected")
        if found.decision not in (None, *DECISIONS):
            raise FilterError(f"decision: {found.decision!r} is not one of {', '.join(DECISIONS)}")
        for key, value in params.items():
            if key.startswith("slot.") and value not in (None, ""):
                name = key[5:]
                if name not in catalog.schema.slots:
                    raise FilterError(f"{key}: no slot {name!r} (slots: {', '.join(catalog.schema.slots) or 'none'})")
                found.slots[name] = str(value)
            elif key.startswith("score.") and value not in (None, ""):
                name = key[6:]
                if name not in catalog.schema.scores:
                    raise FilterError(f"{key}: no judge score field {name!r}")
                found.scores[name] = number_range(key, str(value))
        found.cluster = integer("cluster", params.get("cluster"))
        ids = params.get("ids")
        if ids not in (None, ""):
            items = ids if isinstance(ids, list) else str(ids).split(",")
            found.ids = [integer("ids", item) for item in items]  # type: ignore[misc]
        return found

    def where(self, catalog: Catalog | None = None) -> tuple[str, list[Any]]:
        """SQL conditions on `ix.items i`; with the catalog, the rarest slot value drives the query."""
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
        if len(slots) > 1 and catalog is not None:  # the rarest value drives, the others are probed per candidate
            slots.sort(key=lambda item: catalog.db.execute(
                "SELECT COUNT(*) FROM ix.facets WHERE kind = 'slot' AND name = ? AND value = ?", item).fetchone()[0])
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


LIVE = "SELECT v.idx FROM main.review v JOIN ix.items x ON x.idx = v.idx AND x.sig = v.basis"
VERDICTS = {"decided": "v.verdict IS NOT NULL", "accepted": "v.verdict = 'accepted'", "rejected": "v.verdict = 'rejected'",
            "edited": "v.edits != '{}'"}


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


def integer(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FilterError(f"{name}: {value!r} is not a whole number") from None


def number_range(name: str, text: str) -> tuple[float | None, float | None]:
    """'3' (exactly), '3..' (at least), '..2' (at most), '2..4'."""
    low, sep, high = text.partition("..")
    try:
        first = float(low) if low.strip() else None
        last = (float(high) if high.strip() else None) if sep else first
    except ValueError:
        raise FilterError(f"{name}: {text!r} is not N, N.., ..N or N..M") from None
    return first, last


def matching_indices(catalog: Catalog, where: Filter) -> list[int]:
    sql, args = where.where(catalog)
    return [idx for (idx,) in catalog.db.execute(f"SELECT i.idx {JOIN} WHERE {sql} ORDER BY i.idx", args)]


def page(catalog: Catalog, where: Filter, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """One page of records matching the filter, in record order, with the total."""
    catalog.refresh()
    limit = max(1, min(limit, MAX_LIMIT))
    sql, args = where.where(catalog)
    if sql == "1":  # no filter: the index pages itself
        total = catalog.count()
        indices = [i for (i,) in catalog.db.execute("SELECT idx FROM ix.items ORDER BY idx LIMIT ? OFFSET ?",
                                                    (limit, max(0, offset)))]
    else:  # every match once, kept while nothing changes: the next pages of this filter are a slice
        matches = catalog.matches(sql, args, lambda: matching_indices(catalog, where))
        total, indices = len(matches), matches[max(0, offset):max(0, offset) + limit]
    found = catalog.db.execute("SELECT idx, id, status, stage, reason, detail FROM ix.items WHERE idx IN "
                               "(SELECT value FROM json_each(?)) ORDER BY idx", (orjson.dumps(indices).decode(),)).fetchall()
    stored = catalog.rows(indices)
    decided = {row[0]: row[1:] for row in catalog.db.execute(
        "SELECT v.idx, v.verdict, v.reason, v.edits, v.reviewer FROM main.review v JOIN ix.items x ON x.idx = v.idx "
        "AND x.sig = v.basis WHERE v.idx IN (SELECT value FROM json_each(?))", (orjson.dumps(indices).decode(),))}
    items = []
    for idx, record_id, status, stage, reason, detail in found:
        verdict, why, edits, reviewer = decided.get(idx, (None, None, None, None))
        row = orjson.loads(stored[idx][0]) if idx in stored else {}
        changed = orjson.loads(edits) if edits else {}
        row.update(changed)
        items.append({"idx": idx, "id": record_id, "status": status, "stage": stage, "reason": reason, "detail": detail,
                      "verdict": verdict, "verdict_reason": why, "edited": sorted(changed), "reviewer": reviewer,
                      "slots": {n: row[n] for n in catalog.schema.slots if n in row},
                      "scores": {n: row[n] for n in catalog.schema.scores if n in row},
                      "snippet": snippet(row, catalog.schema.text_fields)})
    return {"total": total, "offset": offset, "limit": limit, "items": items}


def snippet(row: dict[str, Any], text_fields: list[str]) -> str:
    for name in [*text_fields, *row]:
        value = row.get(name)
        if name != "id" and isinstance(value, str) and value.strip():
            return value[:SNIPPET]
    return ""


def record_detail(catalog: Catalog, idx: int) -> dict[str, Any] | None:
    """One record: its row as stored and as decided, the machine's verdict, the person's, and
    every call that made it (prompt sent, model, params, tokens, cost, reply)."""
    catalog.refresh()
    item = catalog.db.execute("SELECT idx, id, status, stage, reason, detail, transient, sig FROM ix.items WHERE idx = ?",
                              (idx,)).fetchone()
    if item is None:
        return None
    stored = catalog.rows([idx]).get(idx)
    if stored is None:
        return None
    row, lineage = orjson.loads(stored[0]), orjson.loads(stored[1] or "[]")
    review = catalog.db.execute("SELECT verdict, reason, edits, basis, reviewer, updated FROM main.review WHERE idx = ?",
                                (idx,)).fetchone()
    decision = None
    if review is not None:
        decision = {"verdict": review[0], "reason": review[1], "edits": orjson.loads(review[2]), "reviewer": review[4],
                    "updated": review[5], "stale": review[3] != item[7]}
    history = [dict(zip(("action", "field", "value", "reason", "reviewer", "created", "undone"), h)) for h in catalog.db.execute(
        "SELECT action, field, value, reason, reviewer, created, undone FROM main.decisions WHERE idx = ? ORDER BY seq", (idx,))]
    return {"idx": idx, "id": item[1], "status": item[2], "stage": item[3], "reason": item[4], "detail": item[5],
            "transient": bool(item[6]), "row": row, "decision": decision, "history": history,
            "slots": [n for n in catalog.schema.slots if n in row], "scores": [n for n in catalog.schema.scores if n in row],
            "calls": [call_detail(catalog, call) for call in lineage]}


def call_detail(catalog: Catalog, call: dict[str, Any]) -> dict[str, Any]:
    stored = catalog.db.execute("SELECT request, response FROM main.responses WHERE key = ?", (call.get("request"),)).fetchone()
    request = scrubbed(orjson.loads(stored[0])) if stored else None
    response = orjson.loads(stored[1]) if stored else {}
    usage = call.get("usage") or {}
    prices = price_table(catalog)
    cost = prices.cost(str(call.get("model") or ""), usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0) \
        if prices else None
    return {**scrubbed(call), "messages": (request or {}).get("messages"), "request": request,
            "reply": response.get("text"), "cost": cost}


def price_table(catalog: Catalog) -> PriceTable:
    try:
        return PriceTable({model: Price(**price) for model, price in catalog.schema.prices.items()})
    except (TypeError, ValueError):
        return PriceTable()


def scrubbed(value: Any) -> Any:
    """A request or call without anything that could be a credential (keys, headers, a URL's user:key@)."""
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items() if k.lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value


def facet_counts(catalog: Catalog) -> dict[str, Any]:
    """Counts for the filter menus: slot values (the 200 commonest), reasons, statuses (kept until
    the index changes: decisions do not change them), and the decisions in force (always fresh)."""
    catalog.refresh()
    key = (catalog.generation, catalog.epoch)
    if catalog.facet_cache is None or catalog.facet_cache[0] != key:
        slots = {name: catalog.db.execute("SELECT value, COUNT(*) FROM ix.facets WHERE kind = 'slot' AND name = ? GROUP BY "
                                          "value ORDER BY COUNT(*) DESC, value LIMIT 200", (name,)).fetchall()
                 for name in catalog.schema.slots}
        reasons = catalog.db.execute("SELECT reason, COUNT(*) FROM ix.items WHERE reason IS NOT NULL GROUP BY reason "
                                     "ORDER BY COUNT(*) DESC").fetchall()
        statuses = dict(catalog.db.execute("SELECT status, COUNT(*) FROM ix.items GROUP BY status").fetchall())
        catalog.facet_cache = (key, {"slots": slots, "reasons": reasons, "statuses": statuses, "total": catalog.count()})
    decided = dict(catalog.db.execute("SELECT COALESCE(v.verdict, 'edited'), COUNT(*) FROM main.review v JOIN ix.items i "
                                      "ON i.idx = v.idx AND i.sig = v.basis GROUP BY 1").fetchall())
    return {**catalog.facet_cache[1], "decided": decided}


def over_represented(catalog: Catalog, group: list[int], minimum: int = 2, top: int = 40) -> dict[str, Any]:
    """Slot values, models, stages, templates and rejection steps more common among `group` than
    among all records: counts and lift = (share in the group) / (share in all)."""
    catalog.refresh()
    wanted = orjson.dumps(sorted(set(group))).decode()
    size = catalog.db.execute("SELECT COUNT(*) FROM ix.items WHERE idx IN (SELECT value FROM json_each(?))", (wanted,)).fetchone()[0]
    total = catalog.count()
    if not size or not total:
        return {"group": size, "total": total, "rows": []}
    query = f"""
        WITH g(idx) AS (SELECT value FROM json_each(?)),
             f(idx, kind, name, value) AS (SELECT idx, kind, name, value FROM ix.facets WHERE kind != 'score'
                                           UNION ALL SELECT idx, 'rejected at', stage, reason FROM ix.items WHERE stage IS NOT NULL)
        SELECT kind, name, value, COUNT(*) AS everywhere, SUM(idx IN g) AS flagged FROM f GROUP BY kind, name, value
        HAVING flagged >= ? ORDER BY (1.0 * flagged / everywhere) DESC, flagged DESC LIMIT {int(top)}"""
    rows = [{"kind": kind, "name": name, "value": value, "flagged": flagged, "all": everywhere,
             "lift": round((flagged / size) / (everywhere / total), 3)}
            for kind, name, value, everywhere, flagged in catalog.db.execute(query, (wanted, min(minimum, size)))]
    return {"group": size, "total": total, "rows": rows}


def agreement_figures(catalog: Catalog, thresholds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Per judge score field: the person's verdicts by judge score, kappa and the confusion table."""
    catalog.refresh()
    result = {}
    for name, spec in catalog.schema.scores.items():
        counts: dict[float, dict[str, int]] = {}
        for score, verdict, n in catalog.db.execute(
                "SELECT f.value, v.verdict, COUNT(*) FROM main.review v JOIN ix.items i ON i.idx = v.idx AND i.sig = v.basis "
                "JOIN ix.facets f ON f.idx = i.idx AND f.kind = 'score' AND f.name = ? WHERE v.verdict IS NOT NULL "
                "GROUP BY 1, 2", (name,)):
            counts.setdefault(score, {})[verdict] = n
        chosen = (thresholds or {}).get(name)
        threshold = chosen if chosen is not None else spec.get("threshold")
        result[name] = agreement(counts, spec["scale"], threshold, "chosen" if chosen is not None else "recipe")
        result[name]["threshold_recipe"] = spec.get("threshold")
    return result
