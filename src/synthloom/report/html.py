"""report.html: one self-contained page (inline SVG, CSS and one hashed script, no external URL)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from itertools import zip_longest

from jinja2 import Environment

from ..version import package_version
from .build import RunData, as_text
from .plots import render_plots
from .summary import headline
from .template import PAGE, SCRIPT

__all__ = ["render_html", "pick_kept", "pick_rejected", "script_hash"]

PREVIEW = 160


def spread(items: list, count: int) -> list:
    """At most `count` items, evenly spaced, in order (deterministic)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def preview(row: dict, field: str | None) -> str:
    text = as_text(row.get(field)) if field else None
    text = " ".join((text or json.dumps({k: v for k, v in row.items() if k != "id"}, ensure_ascii=False)).split())
    return text if len(text) <= PREVIEW else text[:PREVIEW] + "…"


def pretty(row: dict) -> str:
    return json.dumps(row, indent=2, ensure_ascii=False, default=str)


def pick_kept(rows: list[dict], field: str | None, count: int) -> list[dict]:
    """Kept records to browse: evenly spread over the dataset."""
    return [{"id": str(r.get("id", "?")), "preview": preview(r, field), "json": pretty(r)} for r in spread(rows, count)]


def pick_rejected(rejected: list[dict], field: str | None, count: int) -> list[dict]:
    """Rejected records to browse, taken in turn from each step and reason so rare reasons show too."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rejected:
        groups[f"{r.get('stage', '?')}: {r.get('reason', '?')}"].append(r)
    chosen = [r for turn in zip_longest(*groups.values()) for r in turn if r is not None][:count]
    chosen.sort(key=lambda r: r.get("index", 0))
    return [{"id": str(r.get("id", "?")), "stage": str(r.get("stage", "?")), "why": str(r.get("reason", "?")),
             "reason": f"{r.get('stage', '?')}: {r.get('reason', '?')}", "detail": str(r.get("detail") or ""),
             "preview": preview(r.get("row") or {}, field), "json": pretty(r.get("row") or {})} for r in chosen]


def script_hash(script: str) -> str:
    """The CSP source that lets exactly this inline script run."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"sha256-{digest}"


def render_html(run: RunData, metrics: dict, show: int = 100) -> str:
    """The whole report page for a run and its metrics."""
    env = Environment(autoescape=True, keep_trailing_newline=True)
    backend = metrics.get("backend") or {}
    rejected = pick_rejected(run.rejected, metrics.get("text_field"), show)
    return env.from_string(PAGE).render(
        title=f"synthloom report: {metrics.get('recipe') or run.path.name}", version=package_version(),
        metrics=metrics, headline=headline(metrics), plots=render_plots(metrics), drops=metrics["drops"],
        kept=pick_kept(run.rows, metrics.get("text_field"), show), rejected=rejected,
        reasons=sorted({r["reason"] for r in rejected}),
        backend=" ".join(str(v) for v in (backend.get("kind"), backend.get("model")) if v) or "unknown",
        recipe_text=run.recipe_text, recipe_source=run.recipe_source,
        script=SCRIPT, script_hash=script_hash(SCRIPT),
    )
