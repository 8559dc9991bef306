"""A run directory's files, written from the store: dataset.jsonl/.parquet, rejected.jsonl,
lineage.jsonl, recipe.yaml and run.json (counts, curation figures, field schema)."""

from __future__ import annotations

import json
import os
import platform
import urllib.parse
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
import yaml

from .. import __version__
from ..curate.dataset import DatasetCuration, curate_dataset
from ..cost.prices import PriceTable
from ..curate.summary import curation_summary, dataset_schema
from ..metrics.usage import token_usage
from ..recipe.model import BackendSpec, Recipe
from ..store import Store
from .jsonl import write_jsonl, write_jsonl_lines
from .parquet import jsonl_to_parquet

__all__ = ["export_run", "grounding_summary", "without_credentials"]


def without_credentials(url: str | None) -> str | None:
    """A URL (or a comma-separated fleet of them) as safe to write down: user:password@ and query
    strings (?key=...) removed."""
    if not url:
        return url
    if "," in url:
        return ",".join(without_credentials(part.strip()) or "" for part in url.split(","))
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def export_run(store: Store, pipeline: Any, out: Path, n: int, spec: BackendSpec, stats: Any,
               prices: PriceTable | None = None, endpoints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write the run directory's files from the store, after the dataset-wide curation steps."""
    curation = curate_dataset(store, pipeline.dataset_steps, n) if pipeline.dataset_steps else DatasetCuration()
    dropped = curation.dropped
    kept = write_jsonl_lines(out / "dataset.jsonl", (text for idx, text in store.iter_indexed_rows(n) if idx not in dropped))
    jsonl_to_parquet(out / "dataset.jsonl", out / "dataset.parquet")
    rejected = write_jsonl(out / "rejected.jsonl", chain(store.iter_failures(n), (dropped[i] for i in sorted(dropped))))
    write_jsonl_lines(out / "lineage.jsonl", store.iter_lineage_texts(n, dropped))
    write_recipe(out / "recipe.yaml", pipeline.recipe)
    summary = {
        "synthloom": __version__,
        "python": platform.python_version(),
        "recipe": pipeline.recipe.name,
        "recipe_fingerprint": pipeline.fingerprint(),
        "n": n,
        "kept": kept,
        "rejected": rejected,
        "backend": {"kind": spec.kind, "model": spec.model, "base_url": without_credentials(spec.base_url),
                    **({"endpoints": endpoints} if endpoints else {})},
        "backends": {name: {"kind": b.kind, "model": b.model, "base_url": without_credentials(b.base_url)}
                     for name, b in pipeline.recipe.backends.items()},
        "this_run": {
            "records": stats.processed,
            "requests_sent": stats.requests,
            "cache_hits": stats.cached,
            "retries": stats.retries,
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "seconds": round(stats.elapsed, 3),
            "failure_reasons": dict(stats.reasons),
            "executor": getattr(stats, "executor", None) or {"kind": "local"},
            "concurrency": concurrency_summary(stats),
        },
    }
    grounding = grounding_summary(store, pipeline, n, kept)
    if grounding:
        summary["grounding"] = grounding
    kept_rows = (text for idx, text in store.iter_indexed_rows(n) if idx not in dropped)
    summary["curation"] = curation_summary(pipeline, kept_rows, chain(store.iter_failures(n), dropped.values()))
    if curation.steps:
        summary["curation"]["dedup"] = curation.steps
    summary["cost"] = cost_summary(store, n, stats, prices or PriceTable(), kept)
    first = next((orjson.loads(text) for idx, text in store.iter_indexed_rows(n) if idx not in dropped), None)
    summary["schema"] = dataset_schema(pipeline, first)
    tmp = out / ".run.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "run.json")
    return {"kept": kept, "rejected": rejected, "grounding": grounding, "curation": summary["curation"], "cost": summary["cost"]}


def concurrency_summary(stats: Any) -> dict[str, Any]:
    """The default backend's concurrency figures (configured, final_limit, mean_in_flight,
    max_in_flight, decreases, rate_limited_waits_s), and each named backend's under `backends`."""
    figures = dict(getattr(stats, "concurrency", None) or {})
    default = figures.pop("", None)
    summary = default.to_dict() if default is not None else {}
    if figures:
        summary["backends"] = {name: f.to_dict() for name, f in figures.items()}
    return summary


def cost_summary(store: Store, n: int, stats: Any, prices: PriceTable, kept: int) -> dict[str, Any]:
    """Tokens and dollars: everything the directory paid for, this run's share, and per stage
    over every record's calls (kept and rejected: a rejected record was paid for too)."""
    paid = store.paid_usage()
    usage = token_usage(({"calls": orjson.loads(text)} for text in store.iter_call_texts(n)), prices=prices)
    budget = getattr(stats, "budget", None)
    directory_cost = prices.total(paid) if prices else None
    return {
        "prices": {model: price.model_dump() for model, price in prices.prices.items()} or None,
        "paid": {"requests": store.count_responses(), "prompt_tokens": sum(p for p, _ in paid.values()),
                 "completion_tokens": sum(c for _, c in paid.values()), "dollars": directory_cost},
        "this_run": {"requests": stats.requests, "prompt_tokens": stats.prompt_tokens,
                     "completion_tokens": stats.completion_tokens,
                     "dollars": round(budget.spent, 6) if budget is not None else None},
        "budget": {"limit": budget.limit, "reached": budget.reached} if budget is not None and budget.limit is not None else None,
        "stages": {name: {k: v for k, v in stage.items() if k != "finish_reasons"} for name, stage in usage["stages"].items()},
        "records": usage["records"],
        "dollars_per_kept_record": directory_cost / kept if directory_cost is not None and kept else None,
    }


def write_recipe(path: Path, recipe: Recipe) -> None:
    """The recipe as run: the file's own text when it came from one, else its YAML dump."""
    from ..recipe.load import parse_recipe

    source = recipe.__dict__.get("_source_path")
    try:
        text = Path(source).read_text(encoding="utf-8") if source else None
        if text is not None and parse_recipe(text, str(source), recipe.base_dir).model_dump() != recipe.model_dump():
            text = None  # changed in code or on the command line (--seed): write what actually ran
    except Exception:  # noqa: BLE001 - the file changed or vanished since the run read it
        text = None
    if text is None:
        text = yaml.safe_dump(recipe.model_dump(mode="json", exclude={"base_dir"}), sort_keys=False, allow_unicode=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


UNSUPPORTED = ("unsupported_lexical", "unsupported_judge")


def grounding_summary(store: Store, pipeline: Pipeline, n: int, kept: int) -> dict[str, dict[str, Any]]:
    """For each grounding stage: answers checked, how many were supported, and the fraction."""
    from ..stages.grounding import GroundingStage

    failures = store.failure_counts(n)
    names = [stage.name for stage in pipeline.stages]
    summary: dict[str, dict[str, Any]] = {}
    for position, stage in enumerate(pipeline.stages):
        if not isinstance(stage, GroundingStage):
            continue
        later = set(names[position + 1:])
        passed = kept + sum(c for (where, _), c in failures.items() if where in later)
        lexical, judged = (failures.get((stage.name, reason), 0) for reason in UNSUPPORTED)
        checked = passed + lexical + judged
        summary[stage.name] = {"checked": checked, "supported": passed, "rejected_lexical": lexical,
                               "rejected_judge": judged, "supported_fraction": round(passed / checked, 4) if checked else None}
    return summary
