"""The review app's reads over the catalog: filters from query parameters, filtered pages, one record
in full, facet counts, over-representation among flagged records, and judge–human agreement (the
SQL behind them is the store's: store/review_index.py and store/review_queries.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..cost.prices import PriceTable
from ..recipe.model import Price
from ..store import review_queries as reads
from ..store.review_queries import DECISIONS, RecordFilter
from .agreement import agreement
from .catalog import Catalog

__all__ = ["Filter", "FilterError", "page", "record_detail", "facet_counts", "over_represented", "agreement_figures",
           "matching_indices"]

MAX_LIMIT = 200
SNIPPET = 280
SECRET_KEYS = {"api_key", "authorization", "headers", "api_key_env", "token", "base_url"}  # a URL may hold user:key@


class FilterError(ValueError):
    """A filter the app cannot apply (an unknown slot, a bad number): answered with HTTP 400."""


class Filter(RecordFilter):
    """Which records to list (the store's RecordFilter), as the app's query parameters give it."""

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


def matching_indices(catalog: Catalog, where: RecordFilter) -> list[int]:
    return reads.matching(catalog.index, where)


def page(catalog: Catalog, where: Filter, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """One page of records matching the filter, in record order, with the total."""
    catalog.refresh()
    limit = max(1, min(limit, MAX_LIMIT))
    sql, args = where.where(catalog.index)
    if sql == "1":  # no filter: the index pages itself
        total = catalog.count()
        indices = catalog.index.first(limit, max(0, offset))
    else:  # every match once, kept while nothing changes: the next pages of this filter are a slice
        matches = catalog.matches(sql, args, lambda: matching_indices(catalog, where))
        total, indices = len(matches), matches[max(0, offset):max(0, offset) + limit]
    found = catalog.index.items(indices)
    stored = catalog.index.rows(indices)
    decided = reads.decided(catalog.index, indices)
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
    item = catalog.index.item(idx)
    if item is None:
        return None
    stored = catalog.index.rows([idx]).get(idx)
    if stored is None:
        return None
    row, lineage = orjson.loads(stored[0]), orjson.loads(stored[1] or "[]")
    review = reads.review_of(catalog.index, idx)
    decision = None
    if review is not None:
        decision = {"verdict": review[0], "reason": review[1], "edits": orjson.loads(review[2]), "reviewer": review[4],
                    "updated": review[5], "stale": review[3] != item[7]}
    history = [dict(zip(("action", "field", "value", "reason", "reviewer", "created", "undone"), h))
               for h in reads.history(catalog.index, idx)]
    return {"idx": idx, "id": item[1], "status": item[2], "stage": item[3], "reason": item[4], "detail": item[5],
            "transient": bool(item[6]), "row": row, "decision": decision, "history": history,
            "slots": [n for n in catalog.schema.slots if n in row], "scores": [n for n in catalog.schema.scores if n in row],
            "calls": [call_detail(catalog, call) for call in lineage]}


def call_detail(catalog: Catalog, call: dict[str, Any]) -> dict[str, Any]:
    stored = catalog.index.stored_call(call.get("request"))
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
        slots = {name: catalog.index.slot_values(name) for name in catalog.schema.slots}
        catalog.facet_cache = (key, {"slots": slots, "reasons": catalog.index.reasons(), "statuses": catalog.index.statuses(),
                                     "total": catalog.count()})
    return {**catalog.facet_cache[1], "decided": reads.decided_counts(catalog.index)}


def over_represented(catalog: Catalog, group: list[int], minimum: int = 2, top: int = 40) -> dict[str, Any]:
    """Slot values, models, stages, templates and rejection steps more common among `group` than
    among all records: counts and lift = (share in the group) / (share in all)."""
    catalog.refresh()
    wanted = sorted(set(group))
    size = catalog.index.count_of(wanted)
    total = catalog.count()
    if not size or not total:
        return {"group": size, "total": total, "rows": []}
    rows = [{"kind": kind, "name": name, "value": value, "flagged": flagged, "all": everywhere,
             "lift": round((flagged / size) / (everywhere / total), 3)}
            for kind, name, value, everywhere, flagged in reads.over_represented_rows(catalog.index, wanted, min(minimum, size), top)]
    return {"group": size, "total": total, "rows": rows}


def agreement_figures(catalog: Catalog, thresholds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Per judge score field: the person's verdicts by judge score, kappa and the confusion table."""
    catalog.refresh()
    result = {}
    for name, spec in catalog.schema.scores.items():
        counts: dict[float, dict[str, int]] = {}
        for score, verdict, n in reads.verdicts_by_score(catalog.index, name):
            counts.setdefault(score, {})[verdict] = n
        chosen = (thresholds or {}).get(name)
        threshold = chosen if chosen is not None else spec.get("threshold")
        result[name] = agreement(counts, spec["scale"], threshold, "chosen" if chosen is not None else "recipe")
        result[name]["threshold_recipe"] = spec.get("threshold")
    return result
