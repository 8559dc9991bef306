"""Judge–human agreement: does the LLM judge's pass/fail at its threshold match what a person decided?

A judge gives a score on a scale; a person accepts or rejects. The judge "passes" a record when
its score is at least the threshold (the recipe's, else the middle of the scale). Cohen's kappa
corrects the raw agreement for what two raters with these pass rates would agree on by chance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["cohen_kappa", "agreement", "judge_fields", "default_threshold", "summarise"]


def cohen_kappa(table: list[list[int]]) -> float | None:
    """Kappa of a square confusion table (rows: one rater, columns: the other); None if undefined."""
    total = sum(map(sum, table))
    if not total:
        return None
    observed = sum(table[i][i] for i in range(len(table))) / total
    rows = [sum(r) / total for r in table]
    cols = [sum(r[j] for r in table) / total for j in range(len(table))]
    chance = sum(a * b for a, b in zip(rows, cols))
    if math.isclose(chance, 1.0):
        return None  # both raters gave one answer only: agreement says nothing
    return round((observed - chance) / (1 - chance), 4)


def default_threshold(scale: list[float], threshold: float | None) -> float:
    return threshold if threshold is not None else math.ceil((scale[0] + scale[1]) / 2)


def agreement(by_score: Mapping[float, Mapping[str, int]], scale: list[float], threshold: float | None,
              source: str = "recipe") -> dict[str, Any]:
    """Figures for one score field, from {score: {"accepted": n, "rejected": m}}: the table by score,
    the 2×2 confusion (judge pass/fail × person accept/reject) at the threshold, kappa there and at
    every other threshold in the scale (which one a person agrees with most)."""
    used = default_threshold(scale, threshold)
    scores = sorted(by_score)

    def confusion(cut: float) -> list[list[int]]:
        table = [[0, 0], [0, 0]]  # rows: judge pass, fail; columns: person accepted, rejected
        for score in scores:
            row = 0 if score >= cut else 1
            table[row][0] += by_score[score].get("accepted", 0)
            table[row][1] += by_score[score].get("rejected", 0)
        return table

    table = confusion(used)
    total = sum(map(sum, table))
    cuts = sorted({*range(math.ceil(scale[0]) + 1, math.floor(scale[1]) + 1), used})
    return {
        "scale": list(scale), "threshold": used, "threshold_from": source if threshold is not None else "scale middle",
        "decided": total, "confusion": {"rows": ["judge pass", "judge fail"], "columns": ["accepted", "rejected"], "table": table},
        "agreement": round((table[0][0] + table[1][1]) / total, 4) if total else None,
        "kappa": cohen_kappa(table),
        "by_score": [{"score": s, "accepted": by_score[s].get("accepted", 0), "rejected": by_score[s].get("rejected", 0)}
                     for s in scores],
        "kappa_by_threshold": [{"threshold": c, "kappa": cohen_kappa(confusion(c))} for c in cuts],
    }


def judge_fields(recipe: Mapping[str, Any] | None, schema: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Score field → {scale, threshold}: scales from run.json's schema, thresholds from the stored recipe."""
    fields: dict[str, dict[str, Any]] = {}
    for name, scale in ((schema or {}).get("score_fields") or {}).items():
        fields[name] = {"scale": list(scale), "threshold": None}
    recipe = recipe or {}
    for stage in [*(recipe.get("stages") or []), *(recipe.get("curate") or [])]:
        if isinstance(stage, dict) and stage.get("kind") == "judge":
            name = str(stage.get("output") or stage.get("name"))
            entry = fields.setdefault(name, {"scale": list(stage.get("scale") or (1, 5)), "threshold": None})
            entry["threshold"] = stage.get("threshold")
    return fields


def summarise(pairs: Iterable[tuple[str, float, str]], fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Agreement per score field from (field, score, verdict) of every decided record that has a score."""
    counts: dict[str, dict[float, dict[str, int]]] = {}
    for field, score, verdict in pairs:
        slot = counts.setdefault(field, {}).setdefault(score, {"accepted": 0, "rejected": 0})
        slot[verdict] += 1
    return {name: agreement(counts[name], spec["scale"], spec.get("threshold")) for name, spec in fields.items() if name in counts}
