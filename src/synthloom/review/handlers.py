"""The review app's JSON API: reads go to the catalog, decisions to the decision log."""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from ..errors import ConfigError
from ..store.review_queries import decided_by_cluster
from .decisions import DecisionError
from .queries import Filter, FilterError, agreement_figures, facet_counts, matching_indices, over_represented, page, record_detail
from .server import STATE, ReviewApp, error

__all__ = ["add_routes"]

MAX_CLUSTERS = 200
json_response = partial(web.json_response, dumps=lambda data: orjson.dumps(data).decode())
MAX_NEIGHBOURS = 500


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/schema", schema)
    app.router.add_get("/api/records", records)
    app.router.add_get("/api/records/{idx:\\d+}", record)
    app.router.add_get("/api/agreement", agreement)
    app.router.add_post("/api/decide", decide)
    app.router.add_post("/api/undo", undo)
    app.router.add_post("/api/neighbours", neighbours)
    app.router.add_post("/api/origins", origins)
    app.router.add_post("/api/clusters", clusters)


def state_of(request: web.Request) -> ReviewApp:
    return request.app[STATE]


async def body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the body is not JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return data


def number(value: Any, name: str, default: int, low: int, high: int) -> int:
    try:
        found = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(reason=f"{name}: not a whole number") from None
    return max(low, min(high, found))


async def schema(request: web.Request) -> web.Response:
    state = state_of(request)
    s = state.catalog.schema
    return json_response({"name": s.name, "run": state.run.name, "slots": s.slots, "scores": s.scores,
                              "text_fields": s.text_fields, "reviewer": state.reviewer, "facets": facet_counts(state.catalog)})


async def records(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        where = Filter.parse(request.query, state.catalog)
        offset = number(request.query.get("offset"), "offset", 0, 0, 1 << 40)
        limit = number(request.query.get("limit"), "limit", 50, 1, 200)
        return json_response(page(state.catalog, where, offset, limit))
    except FilterError as exc:
        return error(400, str(exc))


async def record(request: web.Request) -> web.Response:
    found = record_detail(state_of(request).catalog, int(request.match_info["idx"]))
    return json_response(found) if found is not None else error(404, "no such record")


async def agreement(request: web.Request) -> web.Response:
    thresholds = {}
    for key, value in request.query.items():
        if key.startswith("threshold."):
            try:
                thresholds[key[10:]] = float(value)
            except ValueError:
                return error(400, f"{key}: not a number")
            if not math.isfinite(thresholds[key[10:]]):
                return error(400, f"{key}: not a number")
    return json_response(agreement_figures(state_of(request).catalog, thresholds))


def targets(state: ReviewApp, data: dict[str, Any]) -> list[int]:
    """The records an action is for: `ids` (record indices) or every record matching `filter`."""
    if isinstance(data.get("filter"), dict):
        return matching_indices(state.catalog, Filter.parse(data["filter"], state.catalog))
    ids = data.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise FilterError("give `ids` (a list of record indices) or `filter`")
    return ids


async def decide(request: web.Request) -> web.Response:
    state = state_of(request)
    data = await body(request)
    try:
        indices = targets(state, data)
        reviewer = data.get("reviewer") or state.reviewer
        if reviewer is not None and (not isinstance(reviewer, str) or len(reviewer) > 100):
            return error(400, "reviewer: a name of at most 100 characters")
        async with state.write_lock:
            result = await asyncio.to_thread(state.log.record, indices, str(data.get("action")), field=data.get("field"),
                                             value=data.get("value"), reason=data.get("reason"), reviewer=reviewer)
    except (FilterError, DecisionError) as exc:
        return error(400, str(exc))
    state.schedule_summary()
    return json_response(result)


async def undo(request: web.Request) -> web.Response:
    state = state_of(request)
    await body(request)
    async with state.write_lock:
        result = await asyncio.to_thread(state.log.undo)
    state.schedule_summary()
    return json_response(result or {"batch": None, "count": 0})


async def neighbours(request: web.Request) -> web.Response:
    """The records most like the flagged ones, as a page (so the list shows them like any other)."""
    state = state_of(request)
    data = await body(request)
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        return error(400, "ids: the flagged records' indices")
    k = number(data.get("k"), "k", 20, 1, MAX_NEIGHBOURS)
    try:
        found = await asyncio.to_thread(state.embeddings.neighbours, ids, k)
    except ConfigError as exc:
        return error(400, str(exc))
    similarity = {n["idx"]: n["similarity"] for n in found}
    listed = page(state.catalog, Filter(ids=list(similarity)), 0, MAX_NEIGHBOURS)
    for item in listed["items"]:
        item["similarity"] = similarity[item["idx"]]
    listed["items"].sort(key=lambda item: -item["similarity"])
    return json_response(listed)


async def origins(request: web.Request) -> web.Response:
    """Over-representation among a group: `ids`, or `group`: rejected (by a person) or all_rejected."""
    state = state_of(request)
    data = await body(request)
    group = data.get("group", "ids")
    if group == "ids":
        ids = data.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return error(400, "ids: the flagged records' indices")
    elif group == "rejected":
        ids = matching_indices(state.catalog, Filter(decision="rejected"))
    elif group == "all_rejected":
        ids = sorted(set(matching_indices(state.catalog, Filter(status="rejected")))
                     | set(matching_indices(state.catalog, Filter(decision="rejected"))))
    else:
        return error(400, "group: ids, rejected or all_rejected")
    return json_response(over_represented(state.catalog, ids))


async def clusters(request: web.Request) -> web.Response:
    state = state_of(request)
    data = await body(request)
    k = number(data.get("k"), "k", 12, 1, MAX_CLUSTERS)
    try:
        labels, summary = await asyncio.to_thread(state.embeddings.clusters, k)
    except ConfigError as exc:
        return error(400, str(exc))
    state.catalog.index.set_clusters(labels)
    state.catalog.touch()
    shown = page(state.catalog, Filter(ids=[c["representative"] for c in summary]), 0, MAX_CLUSTERS)
    by_idx = {item["idx"]: item for item in shown["items"]}
    decided = decided_by_cluster(state.catalog.index)
    for entry in summary:
        entry["record"] = by_idx.get(entry["representative"])
        entry["decided"] = decided.get(entry["cluster"], 0)
    return json_response({"k": k, "clusters": summary})
