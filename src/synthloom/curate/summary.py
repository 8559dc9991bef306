"""The curation figures of a run, for run.json and the report: what was dropped and why,
constraint adherence before and after regeneration, and the dataset's field schema."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["curation_summary", "adherence", "dataset_schema"]


def adherence(infos: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Adherence of first and final generations, from each record's constraint output."""
    records = required = tries = first_all = final_all = first_missed = final_missed = 0
    for info in infos:
        records += 1
        required += info.get("required", 0)
        tries += info.get("tries", 1)
        first_missed += len(info.get("first_missing", []))
        final_missed += len(info.get("missing", []))
        first_all += not info.get("first_missing")
        final_all += not info.get("missing")

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "records": records, "kept": final_all,
        "before": {"all": share(first_all, records), "items": share(required - first_missed, required)},
        "after": {"all": share(final_all, records), "items": share(required - final_missed, required)},
        "generation_requests": tries, "requests_per_record": share(tries, records),
    }


def curation_summary(pipeline: Any, kept_rows: Iterable[str], failures: Iterable[dict]) -> dict[str, Any]:
    """`dropped_<reason>` counts, and adherence per constraint step (over every checked record).

    `kept_rows` are the kept rows as JSON text; they are parsed only when there is a constraint
    step to read from them.
    """
    checks = [s.name for s in pipeline.stages if s.figures == "constraints"]
    infos: dict[str, list[dict]] = {name: [] for name in checks}
    dropped: Counter = Counter()
    for failure in failures:
        if not failure.get("transient"):
            dropped[f"dropped_{failure['reason']}"] += 1
        collect(failure.get("row", {}), infos)
    if checks:
        for text in kept_rows:
            collect(orjson.loads(text), infos)
    summary: dict[str, Any] = {"dropped": dict(dropped.most_common())}
    if checks:
        summary["constraints"] = {name: adherence(found) for name, found in infos.items()}
    return summary


def collect(row: dict, infos: dict[str, list[dict]]) -> None:
    for name, found in infos.items():
        info = row.get(name)
        if isinstance(info, dict) and "tries" in info:
            found.append(info)


def dataset_schema(pipeline: Any, first_row: dict | None) -> dict[str, Any]:
    """Slots with their list and its size, steps with their outputs, text and score fields."""
    specs = pipeline.recipe.slot_specs()
    slots = {name: {"list": spec.source, "size": len(pipeline.entities[spec.source].items), "k": spec.k}
             for name, spec in specs.items() if spec.source in pipeline.entities}
    steps = [{"name": s.name, "kind": getattr(pipeline.recipe, where[0])[where[1]].kind,
              "outputs": list(s.outputs), "section": where[0]}
             for s, where in zip(pipeline.stages, pipeline.sections)]
    steps += [{"name": s.name, "kind": s.config.kind, "outputs": [], "section": "curate"} for s in pipeline.dataset_steps]
    row = first_row or {}
    text_fields = [o for s, where in zip(pipeline.stages, pipeline.sections) if where[0] == "stages"
                   for o in s.outputs if isinstance(row.get(o), str) and len(row.get(o, "")) > 0]
    scores = {field: scale for s in pipeline.stages for field, scale in s.score_fields().items()}
    return {"slots": slots, "stages": steps, "text_fields": text_fields, "score_fields": scores}
