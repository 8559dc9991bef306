"""The workers' figures of a distributed run, merged into the one run.json a local run writes."""

from __future__ import annotations

from typing import Any

from ..backends.base import BackendBase
from ..runner import RunStats

__all__ = ["worker_figures", "summed_concurrency", "merged_figures", "merged_engine"]


def worker_figures(stats: RunStats, backend: BackendBase, counters: tuple[str, ...]) -> dict[str, Any]:
    """What a worker sends back: its counters, failure reasons, gates, outages and engine figures."""
    return {**{name: getattr(stats, name) for name in counters}, "reasons": dict(stats.reasons),
            "concurrency": {name: f.to_dict() for name, f in stats.concurrency.items()},
            "outages": stats.outages, "endpoints": backend.endpoint_stats(), "engine": backend.engine_stats()}


def summed_concurrency(per_worker: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The workers' gates as one per backend: slots, limits and requests in flight add up
    (max in flight is the sum of the workers' maxima, an upper bound)."""
    from ..runner.limits import ConcurrencyFigures

    names = sorted({name for figures in per_worker for name in figures})
    return {name: ConcurrencyFigures(**{key: round(sum(f[name][key] for f in per_worker if name in f), 3)
                                       for key in ConcurrencyFigures.__dataclass_fields__})
            for name in names}


def merged_figures(per_worker: list[Any]) -> Any:
    """Figures of the same shape from each worker as one: numbers add up, flags any, lists of
    dicts (one per server) merge by their first text field, other values are the first one's."""
    present = [f for f in per_worker if f is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for f in present for k in f))
        return {k: merged_figures([f.get(k) for f in present]) for k in keys}
    if isinstance(first, list):
        groups: dict[Any, list[Any]] = {}
        for item in (i for f in present for i in f):
            label = next((v for v in item.values() if isinstance(v, str)), None) if isinstance(item, dict) else None
            groups.setdefault(label if label is not None else id(item), []).append(item)
        return [merged_figures(group) for group in groups.values()]
    if isinstance(first, bool):
        return any(present)
    if isinstance(first, (int, float)):
        total = sum(present)
        return round(total, 3) if isinstance(total, float) else total
    return first


def merged_engine(per_worker: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The workers' embedded-engine figures as one: steps, tokens, seconds and slots (`parallel`)
    add up; `mean_sequences_per_step` is the step-weighted mean (not a sum of means), and
    `generation_tokens_per_s` the sum, since the workers decode at the same time on their own
    cores: the cluster's rate."""
    present = [f for f in per_worker if f]
    merged = merged_figures(present)
    if not merged:
        return merged
    steps = sum(f.get("steps", 0) for f in present)
    merged["mean_sequences_per_step"] = round(
        sum(f.get("mean_sequences_per_step", 0.0) * f.get("steps", 0) for f in present) / steps, 2) if steps else 0.0
    return merged
