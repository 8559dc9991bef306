"""Everything a run directory holds, read and turned into the figures of metrics.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..cost.prices import PriceTable
from ..errors import ConfigError
from ..export.redact import recipe_base_urls, scrub_base_urls, without_credentials
from ..metrics import diversity_metrics, entity_coverage, label_balance, length_distribution, token_usage
from ..recipe.model import Price
from ..store import StoreReader

__all__ = ["RunData", "ReportOptions", "load_run", "read_jsonl", "run_schema", "build_metrics", "as_text"]

LABEL_LIST_MAX = 12  # lists this small get a label-balance plot


@dataclass
class RunData:
    """The files of one run directory; any of them but dataset.jsonl may be missing."""

    path: Path
    rows: list[dict]
    rejected: list[dict] = field(default_factory=list)
    lineage: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    recipe_text: str | None = None
    recipe_source: str | None = None
    stored_recipe: dict | None = None
    review: dict | None = None  # a person's decisions (synthloom review): counts and judge agreement


@dataclass
class ReportOptions:
    """What `synthloom report` was asked for."""

    field: str | None = None
    price_in: float | None = None
    price_out: float | None = None
    sample: int = 200
    seed: int = 0
    show: int = 100


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file, or a ConfigError naming the bad line."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def stored_recipe(path: Path) -> dict | None:
    """The recipe JSON that `synthloom run` keeps in store.sqlite's meta table, if any."""
    if not path.is_file():
        return None
    try:
        reader = StoreReader(path)
    except ConfigError:
        return None
    try:
        found = reader.get_meta("recipe")
        return json.loads(found) if found else None
    except (ConfigError, ValueError):
        return None
    finally:
        reader.close()


def load_run(path: Path) -> RunData:
    """Read a run directory written by `synthloom run`."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path}: not a run directory (expected a directory written by `synthloom run`)")
    dataset = path / "dataset.jsonl"
    if not dataset.is_file():
        raise ConfigError(f"{path}: no dataset.jsonl (is this the --out directory of `synthloom run`?)")
    run = RunData(path, read_jsonl(dataset))
    if (path / "rejected.jsonl").is_file():
        run.rejected = read_jsonl(path / "rejected.jsonl")
    if (path / "lineage.jsonl").is_file():
        run.lineage = read_jsonl(path / "lineage.jsonl")
    if (path / "run.json").is_file():
        try:
            run.info = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path / 'run.json'}: not valid JSON ({exc})") from None
    run.stored_recipe = stored_recipe(path / "store.sqlite")
    apply_review(run)
    if (path / "recipe.yaml").is_file():
        run.recipe_text, run.recipe_source = (path / "recipe.yaml").read_text(encoding="utf-8"), "recipe.yaml"
    elif run.stored_recipe is not None:
        text = yaml.safe_dump(without_base_url_credentials(run.stored_recipe), sort_keys=False, allow_unicode=True, width=100)
        run.recipe_text, run.recipe_source = text, "store.sqlite (normalised)"
    if run.recipe_text:  # a server URL's user:key@ or ?key= never reaches the page
        run.recipe_text = scrub_base_urls(run.recipe_text, recipe_base_urls(parsed_yaml(run.recipe_text))
                                          + recipe_base_urls(run.stored_recipe))
    return run


def apply_review(run: RunData) -> None:
    """A person's decisions: their rejections move records to the rejected list, their acceptances
    of curated-out records move them back, relabels and edits replace values."""
    from ..review.overlay import ReviewOverlay

    overlay = ReviewOverlay.load(run.path) if (run.path / "store.sqlite").is_file() else ReviewOverlay()
    if not overlay and not overlay.stale:
        return
    run.rows = list(overlay.rows(run.rows))
    kept = {row.get("id") for row in run.rows}
    run.rejected = [r for r in run.rejected if r.get("id") not in kept] + overlay.rejections()
    run.review = overlay.summary(run.info.get("schema"))


def without_base_url_credentials(recipe: dict) -> dict:
    """A copy of a stored recipe whose backends' base URLs have no user:key@ or ?key=."""
    recipe = json.loads(json.dumps(recipe))
    for spec in [recipe.get("backend"), *(recipe.get("backends") or {}).values()]:
        if isinstance(spec, dict) and isinstance(spec.get("base_url"), str):
            spec["base_url"] = without_credentials(spec["base_url"])
    return recipe


def parsed_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def as_text(value: Any) -> str | None:
    """A field as text: strings as they are, a chat as its messages' contents; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
        return "\n".join(m["content"] for m in value)
    return None


def run_schema(run: RunData) -> dict:
    """Slots, text fields and score fields: from run.json, else the stored recipe, else guessed from rows."""
    schema = dict(run.info.get("schema") or {})
    recipe = run.stored_recipe or {}
    if "slots" not in schema and recipe.get("slots"):
        entities = recipe.get("entities") or {}
        schema["slots"] = {}
        for name, spec in recipe["slots"].items():
            spec = {"source": spec} if isinstance(spec, str) else spec
            source = spec.get("source", name)
            listed = entities.get(source)
            listed = listed.get("weights") if isinstance(listed, dict) else listed  # {weights: {value: w}}
            size = len(listed) if isinstance(listed, (list, dict)) else None
            schema["slots"][name] = {"list": source, "size": size, "k": spec.get("k", 1)}
    if "score_fields" not in schema and recipe.get("stages"):
        schema["score_fields"] = {s.get("output") or s["name"]: list(s.get("scale") or (1, 5))
                                  for s in recipe["stages"] + (recipe.get("curate") or []) if s.get("kind") == "judge"}
    slots = set(schema.get("slots") or {})
    if not schema.get("text_fields"):
        scores = set(schema.get("score_fields") or {})
        lengths: Counter = Counter()
        for row in run.rows[:500]:
            for name, value in row.items():
                text = as_text(value)
                if text is not None and name != "id" and name not in slots | scores and not name.endswith("_reasoning"):
                    lengths[name] += len(text)
        generated = [s["name"] for s in recipe.get("stages") or [] if s.get("kind", "generate") == "generate"]
        order = {name: i for i, name in enumerate(generated)}  # recipe order first: later stages often quote earlier ones
        schema["text_fields"] = sorted(lengths, key=lambda name: (order.get(name, len(order)), -lengths[name]))
    schema.setdefault("slots", {})
    schema.setdefault("score_fields", {})
    return schema


def pick_field(run: RunData, schema: dict, wanted: str | None) -> str | None:
    """The field diversity is measured on: --field, else the first text field."""
    if wanted is None:
        return (schema.get("text_fields") or [None])[0]
    values = [row[wanted] for row in run.rows if wanted in row] + [r["row"][wanted] for r in run.rejected
                                                                    if wanted in (r.get("row") or {})]
    if values and any(as_text(v) is not None for v in values):
        return wanted
    if values:
        raise ConfigError(f"--field {wanted}: not a text field (its values are {type(values[0]).__name__})")
    known = ", ".join(schema.get("text_fields") or []) or "none found"
    raise ConfigError(f"--field {wanted}: no record in {run.path / 'dataset.jsonl'} has that field (text fields: {known})")


def drop_counts(rejected: list[dict], info: dict) -> dict:
    """Rejections by step and reason (transient ones apart), and the curation `dropped_<reason>` stats."""
    final = [r for r in rejected if not r.get("transient")]
    pairs = Counter(f"{r.get('stage', '?')}: {r.get('reason', '?')}" for r in final)
    return {
        "total": len(final), "transient": len(rejected) - len(final),
        "by_step": dict(Counter(str(r.get("stage", "?")) for r in final).most_common()),
        "by_reason": dict(Counter(str(r.get("reason", "?")) for r in final).most_common()),
        "by_step_reason": dict(pairs.most_common()),
        "dropped": dict((info.get("curation") or {}).get("dropped") or {}),
    }


def score_counts(run: RunData, score_fields: dict) -> dict:
    """Per judge field: how many kept (and rejected, when their row has it) records got each score."""
    result = {}
    for name, scale in score_fields.items():
        kept = Counter(row[name] for row in run.rows if isinstance(row.get(name), (int, float)))
        lost = Counter((r.get("row") or {}).get(name) for r in run.rejected
                       if isinstance((r.get("row") or {}).get(name), (int, float)))
        if kept or lost:
            values = list(kept.elements())
            result[name] = {"scale": list(scale) if scale else None, "kept": dict(sorted(kept.items())),
                            "rejected": dict(sorted(lost.items())),
                            "mean_kept": sum(values) / len(values) if values else None}
    return result


def label_slots(run: RunData, slots: dict) -> list[str]:
    """Slots with a list small enough for a label-balance plot."""
    small = []
    for name, spec in slots.items():
        size = spec.get("size")
        if size is None:
            seen = {json.dumps(row.get(name), sort_keys=True) for row in run.rows if name in row}
            size = len(seen) if seen else None
        if size and size <= LABEL_LIST_MAX:
            small.append(name)
    return small


def run_prices(run: RunData, options: ReportOptions) -> PriceTable:
    """--price-in/--price-out when given, else the prices the run itself was given (run.json)."""
    if options.price_in is not None or options.price_out is not None:
        return PriceTable.for_run(None, options.price_in, options.price_out)
    table = (run.info.get("cost") or {}).get("prices") or {}
    try:
        return PriceTable({model: Price(**price) for model, price in table.items()})
    except (TypeError, ValueError):
        return PriceTable()


def build_metrics(run: RunData, options: ReportOptions = ReportOptions(), embedder: Any = None) -> dict:
    """metrics.json: headline counts, diversity, coverage, labels, lengths, scores, drops, curation, usage."""
    schema = run_schema(run)
    text_field = pick_field(run, schema, options.field)
    texts = [t for t in (as_text(row.get(text_field)) for row in run.rows) if t is not None] if text_field else []
    curation = run.info.get("curation") or {}
    prices = run_prices(run, options)
    usage = token_usage(run.lineage, prices=prices)
    this_run = run.info.get("this_run") or {}
    usage["this_run_cost"] = prices.cost(str((run.info.get("backend") or {}).get("model") or ""),
                                         this_run.get("prompt_tokens") or 0, this_run.get("completion_tokens") or 0) \
        if this_run and prices else None
    usage["paid"] = (run.info.get("cost") or {}).get("paid")
    usage["price_in"], usage["price_out"] = options.price_in, options.price_out
    return {
        "run_dir": str(run.path), "recipe": run.info.get("recipe") or (run.stored_recipe or {}).get("name"),
        "n": run.info.get("n"), "kept": len(run.rows), "rejected": sum(not r.get("transient") for r in run.rejected),
        "backend": run.info.get("backend"), "text_field": text_field, "text_fields": schema.get("text_fields") or [],
        "diversity": diversity_metrics(texts, embedder=embedder, sample=options.sample, seed=options.seed),
        "lengths": length_distribution(texts),
        "coverage": entity_coverage(run.rows, schema["slots"]),
        "labels": {slot: label_balance(run.rows, slot) for slot in label_slots(run, schema["slots"])},
        "scores": score_counts(run, schema["score_fields"]),
        "drops": drop_counts(run.rejected, run.info),
        "constraints": curation.get("constraints") or {},
        "dedup": curation.get("dedup") or {},
        "grounding": run.info.get("grounding") or {},
        "usage": usage,
        "this_run": this_run,
        "stages": schema.get("stages") or [],
        "recipe_source": run.recipe_source,
        "review": run.review,
    }
