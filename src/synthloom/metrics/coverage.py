"""Entity coverage per slot, label balance and length distribution of a dataset's rows."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .diversity import words

__all__ = ["entity_coverage", "label_balance", "length_distribution", "slot_values"]


def slot_values(value: Any) -> list[str]:
    """The entity values one row holds in a slot: a list (k > 1) counts each item, a dict counts by its JSON."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item, sort_keys=True, ensure_ascii=False) for item in items]


def entity_coverage(rows: Iterable[Mapping], slots: Mapping[str, Mapping]) -> dict:
    """For each slot `{"list", "size", "k"}`: how many of the list's values the rows used, and how often.

    `min_uses`/`max_uses` are over the values used at least once; `min_uses_all` is over the whole
    list, so it is 0 as soon as any value is unused (None when the list size is unknown).
    """
    counts: dict[str, Counter] = {slot: Counter() for slot in slots}
    records: Counter[str] = Counter()
    for row in rows:
        for slot in slots:
            if slot in row:
                records[slot] += 1
                counts[slot].update(slot_values(row[slot]))
    result = {}
    for slot, spec in slots.items():
        seen = counts[slot]
        size = spec.get("size")
        used = len(seen)
        low, high = (min(seen.values()), max(seen.values())) if seen else (None, None)
        result[slot] = {
            "list": spec.get("list", slot), "size": size, "k": spec.get("k", 1), "records": records[slot],
            "used": used, "fraction": used / size if size else None,
            "min_uses": low, "max_uses": high,
            "min_uses_all": (0 if used < size else low) if size else None,
            "counts": dict(seen.most_common()),
        }
    return result


def label_balance(rows: Iterable[Mapping], slot: str) -> dict:
    """Counts and shares of each value of `slot`; `entropy` is normalised, 1.0 = perfectly balanced."""
    counts = Counter(v for row in rows for v in slot_values(row.get(slot)))
    total = sum(counts.values())
    classes = len(counts)
    entropy = None
    if classes > 1:
        entropy = -sum(c / total * math.log(c / total) for c in counts.values()) / math.log(classes)
    return {
        "slot": slot, "total": total, "classes": classes,
        "counts": dict(counts.most_common()),
        "fractions": {label: c / total for label, c in counts.most_common()},
        "majority_fraction": max(counts.values()) / total if total else None,
        "max_min_ratio": max(counts.values()) / min(counts.values()) if counts else None,
        "entropy": entropy,
    }


def length_distribution(texts: Sequence[str], bins: int = 20) -> dict:
    """Length in words: mean, min, p5/p50/p95, max and a histogram (`edges` has one more entry than `counts`)."""
    import numpy as np  # only here: the rest of the metrics work on a bare install

    lengths = np.array([len(words(t)) for t in texts if isinstance(t, str)], dtype=np.int64)
    if not len(lengths):
        return {"n": 0, "mean": None, "min": None, "p5": None, "p50": None, "p95": None, "max": None, "histogram": None}
    hist, edges = np.histogram(lengths, bins=min(bins, max(1, int(lengths.max() - lengths.min()) + 1)))
    p5, p50, p95 = (float(x) for x in np.percentile(lengths, [5, 50, 95]))
    return {
        "n": int(len(lengths)), "mean": float(lengths.mean()), "min": int(lengths.min()),
        "p5": p5, "p50": p50, "p95": p95, "max": int(lengths.max()),
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in hist]},
    }
