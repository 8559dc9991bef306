"""Token usage per stage and per record from lineage.jsonl, and its cost at given prices."""

from __future__ import annotations

import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from ..cost.prices import PriceTable

__all__ = ["token_usage", "cost", "percentile"]


def cost(prompt_tokens: int, completion_tokens: int, price_in: float | None, price_out: float | None) -> float | None:
    """Dollars for the tokens at `price_in`/`price_out` $ per 1M tokens; None when a price is missing."""
    if price_in is None or price_out is None:
        return None
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000


def token_usage(lineage: Iterable[Mapping], *, price_in: float | None = None, price_out: float | None = None,
                prices: PriceTable | None = None) -> dict:
    """Calls and tokens per stage, totals and per record, with dollars when prices are known
    (`prices` by model name, or `price_in`/`price_out` for every model).

    Every call in the lineage counts, cached ones too: the figures are what the dataset costs to
    make, while `cached` says how many calls a re-run got for free.
    """
    if prices is None:
        prices = PriceTable.for_run(None, price_in, price_out) if price_in is not None and price_out is not None else PriceTable()
    stages: dict[str, dict] = defaultdict(lambda: {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                   "finish_reasons": Counter(), "cost": 0.0 if prices else None})
    per_record = array("q")  # tokens per record: 8 bytes each, for a million records too
    for entry in lineage:
        spent = 0
        for call in entry.get("calls") or []:
            stage = stages[str(call.get("stage", "?"))]
            usage = call.get("usage") or {}
            prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            stage["calls"] += 1
            stage["cached"] += bool(call.get("cached"))
            stage["prompt_tokens"] += prompt
            stage["completion_tokens"] += completion
            stage["finish_reasons"][str(call.get("finish_reason"))] += 1
            if stage["cost"] is not None:
                dollars = prices.cost(str(call.get("model") or ""), prompt, completion, int(usage.get("cached_tokens") or 0),
                                      int(usage.get("cache_write_tokens") or 0), bool(usage.get("batch")))
                stage["cost"] = None if dollars is None else stage["cost"] + dollars
            spent += prompt + completion
        per_record.append(spent)
    for stage in stages.values():
        stage["finish_reasons"] = dict(stage["finish_reasons"])
    totals = {key: sum(s[key] for s in stages.values()) for key in ("calls", "cached", "prompt_tokens", "completion_tokens")}
    costs = [s["cost"] for s in stages.values()]
    totals["cost"] = sum(costs) if prices and None not in costs else None
    spent_sorted = sorted(per_record)
    records = len(per_record)
    return {
        "records": records, "stages": dict(stages), "totals": totals,
        "per_record": {
            "prompt_tokens": totals["prompt_tokens"] / records if records else None,
            "completion_tokens": totals["completion_tokens"] / records if records else None,
            "calls": totals["calls"] / records if records else None,
            "tokens_p50": percentile(spent_sorted, 50) if records else None,
            "tokens_p95": percentile(spent_sorted, 95) if records else None,
            "cost": totals["cost"] / records if records and totals["cost"] is not None else None,
        },
        "price_in": price_in, "price_out": price_out, "prices": prices.describe() if prices else None,
    }


def percentile(ordered: Sequence[int], q: float) -> float:
    """The q-th percentile of sorted integers, computed as numpy's default (linear) method does,
    to the bit: run.json needs no numpy, and its figures do not change with the install."""
    virtual = (len(ordered) - 1) * (q / 100)
    below = math.floor(virtual)
    if below >= len(ordered) - 1:
        return float(ordered[-1])
    low, high = ordered[below], ordered[below + 1]
    weight, step = virtual - below, high - low
    return high - step * (1 - weight) if weight >= 0.5 else low + step * weight
