"""A run directory's files, written from the store: dataset.jsonl/.parquet, rejected.jsonl,
lineage.jsonl, recipe.yaml and run.json (counts, curation figures, field schema)."""

from __future__ import annotations

import json
import platform
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from ..cost.prices import PriceTable
from ..curate.dataset import DatasetCuration, curate_dataset
from ..curate.summary import curation_summary, dataset_schema
from ..files import Staging
from ..metrics.usage import token_usage
from ..recipe.model import BackendSpec, Recipe
from ..review.overlay import review_summary
from ..store import Store
from ..version import package_version
from .jsonl import write_lines_to
from .redact import backend_secrets, holds_secret, scrub_base_urls, without_credentials

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["export_run", "grounding_summary", "without_credentials"]


def export_run(store: Store, pipeline: Any, out: Path, n: int, spec: BackendSpec, stats: Any,
               prices: PriceTable | None = None, endpoints: list[dict[str, Any]] | None = None,
               engine: dict[str, Any] | None = None, batches: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the run directory's files from the store, after the dataset-wide curation steps."""
    from ..card.facts import RunFiles
    from ..card.write import CARD, write_card_to
    from .parquet import convert_jsonl_to  # pyarrow: 0.2 s to import, so only when files are written

    curation = curate_dataset(store, pipeline.dataset_steps, n) if pipeline.dataset_steps else DatasetCuration()
    dropped = curation.dropped
    with Staging(EXPORT_HINT).writing() as stage:
        dataset = stage(out / "dataset.jsonl")
        kept = write_lines_to(dataset, (text for idx, text in store.iter_indexed_rows(n) if idx not in dropped))
        convert_jsonl_to(dataset, stage(out / "dataset.parquet"))
        failures = chain(store.iter_failures(n), (dropped[i] for i in sorted(dropped)))
        rejected = write_lines_to(stage(out / "rejected.jsonl"), (json.dumps(row, ensure_ascii=False) for row in failures))
        write_lines_to(stage(out / "lineage.jsonl"), store.iter_lineage_texts(n, dropped))
        write_recipe_to(stage(out / "recipe.yaml"), pipeline.recipe, spec)
        summary = run_summary(store, pipeline, n, spec, stats, prices, endpoints, curation, kept, rejected)
        if engine:  # the embedded backend's batch engine: batch widths and tokens/s by kind of step
            summary["backend"]["engine"] = engine
        if batches is not None:  # batch mode: this run's batch figures and every provider batch of the directory
            summary["batches"] = batches
        review = review_summary(out, summary["schema"])  # decisions made in `synthloom review` outlive re-runs
        if review:
            summary["review"] = review
        write_card_to(stage(out / CARD), RunFiles.staged(stage.files, out), summary)  # the dataset card (synthloom.card)
        write_json_to(stage(out / "run.json"), summary)  # last: renamed last, it says the set is complete
    return {"kept": kept, "rejected": rejected, "grounding": summary.get("grounding", {}), "curation": summary["curation"],
            "cost": summary["cost"]}


EXPORT_HINT = ("every generated record is kept in store.sqlite: run the same command again once the directory "
               "can be written (no request is sent again)")


def write_json_to(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2) + "\n")


def run_summary(store: Store, pipeline: Any, n: int, spec: BackendSpec, stats: Any, prices: PriceTable | None,
                endpoints: list[dict[str, Any]] | None, curation: DatasetCuration, kept: int, rejected: int) -> dict[str, Any]:
    """run.json: counts, backends (without credentials), this run's figures, curation, cost, schema."""
    dropped = curation.dropped
    summary = {
        "synthloom": package_version(),
        "python": platform.python_version(),
        "recipe": pipeline.recipe.name,
        "recipe_fingerprint": pipeline.fingerprint(),
        "n": n,
        "kept": kept,
        "rejected": rejected,
        "backend": {"kind": spec.kind, "model": spec.model, "base_url": without_credentials(spec.base_url),
                    **({"endpoints": [{**e, "url": without_credentials(e.get("url"))} for e in endpoints]} if endpoints else {})},
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
            "outages": getattr(stats, "outages", None) or {},
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
    return summary


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
    detail = store.paid_usage_detail()  # one pass over the responses serves the tokens and the dollars
    usage = token_usage(({"calls": orjson.loads(text)} for text in store.iter_call_texts(n)), prices=prices)
    budget = getattr(stats, "budget", None)
    directory_cost = prices.detailed_total(detail) if prices else None
    return {
        "prices": {model: price.model_dump() for model, price in prices.prices.items()} or None,
        "paid": {"requests": store.count_responses(), "prompt_tokens": sum(d[0] for d in detail.values()),
                 "completion_tokens": sum(d[1] for d in detail.values()), "dollars": directory_cost},
        "this_run": {"requests": stats.requests, "prompt_tokens": stats.prompt_tokens,
                     "completion_tokens": stats.completion_tokens,
                     "dollars": round(budget.spent, 6) if budget is not None else None},
        "budget": {"limit": budget.limit, "reached": budget.reached} if budget is not None and budget.limit is not None else None,
        "stages": {name: {k: v for k, v in stage.items() if k != "finish_reasons"} for name, stage in usage["stages"].items()},
        "records": usage["records"],
        "dollars_per_kept_record": directory_cost / kept if directory_cost is not None and kept else None,
    }


def write_recipe_to(path: Path, recipe: Recipe, spec: BackendSpec | None = None) -> None:
    """The recipe as run: the file's own text when it came from one, else its YAML dump; never a
    credential (a URL's user:password@ or ?key=, the value of an api_key_env)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(recipe_text(recipe, spec))


def recipe_text(recipe: Recipe, spec: BackendSpec | None = None) -> str:
    from ..recipe.load import parse_recipe

    secrets = backend_secrets([recipe.backend, spec, *recipe.backends.values()])
    source = recipe.__dict__.get("_source_path")
    try:
        text = Path(source).read_text(encoding="utf-8") if source else None
        if text is not None and parse_recipe(text, str(source), recipe.base_dir).model_dump() != recipe.model_dump():
            text = None  # changed in code or on the command line (--seed): write what actually ran
    except Exception:  # noqa: BLE001 - the file changed or vanished since the run read it
        text = None
    if text is not None:
        text = scrub_base_urls(text, [b.base_url for b in (recipe.backend, spec, *recipe.backends.values()) if b])
        if holds_secret(text, secrets):
            text = None  # a key quoted elsewhere in the file (a comment): the dump has no comments
    if text is None:
        data = recipe.model_dump(mode="json", exclude={"base_dir"})
        for backend in [data.get("backend"), *(data.get("backends") or {}).values()]:
            if backend and backend.get("base_url"):
                backend["base_url"] = without_credentials(backend["base_url"])
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text


UNSUPPORTED = ("unsupported_lexical", "unsupported_judge")


def grounding_summary(store: Store, pipeline: Pipeline, n: int, kept: int) -> dict[str, dict[str, Any]]:
    """For each grounding stage: answers checked, how many were supported, and the fraction."""
    failures = store.failure_counts(n)
    names = [stage.name for stage in pipeline.stages]
    summary: dict[str, dict[str, Any]] = {}
    for position, stage in enumerate(pipeline.stages):
        if stage.figures != "grounding":
            continue
        later = set(names[position + 1:])
        passed = kept + sum(c for (where, _), c in failures.items() if where in later)
        lexical, judged = (failures.get((stage.name, reason), 0) for reason in UNSUPPORTED)
        checked = passed + lexical + judged
        summary[stage.name] = {"checked": checked, "supported": passed, "rejected_lexical": lexical,
                               "rejected_judge": judged, "supported_fraction": round(passed / checked, 4) if checked else None}
    return summary
