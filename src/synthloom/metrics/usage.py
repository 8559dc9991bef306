"""Token usage per stage and per record from lineage.jsonl, and its cost at given prices."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Mapping

import numpy as np

__all__ = ["token_usage", "cost"]


def cost(prompt_tokens: int, completion_tokens: int, price_in: float | None, price_out: float | None) -> float | None:
    """Dollars for the tokens at `price_in`/`price_out` $ per 1M tokens; None when a price is missing."""
    if price_in is None or price_out is None:
        return None
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000


def token_usage(lineage: Iterable[Mapping], *, price_in: float | None = None, price_out: float | None = None) -> dict:
    """Calls and tokens per stage, totals and per kept record, with cost when both prices are given.

    Every call in the lineage counts, cached ones too: the figures are what the dataset costs to
    make, while `cached` says how many calls a re-run got for free.
    """
    stages: dict[str, dict] = defaultdict(lambda: {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                   "finish_reasons": Counter()})
    per_record = []
    for entry in lineage:
        spent = [0, 0]
        for call in entry.get("calls") or []:
            stage = stages[str(call.get("stage", "?"))]
            usage = call.get("usage") or {}
            prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            stage["calls"] += 1
            stage["cached"] += bool(call.get("cached"))
            stage["prompt_tokens"] += prompt
            stage["completion_tokens"] += completion
            stage["finish_reasons"][str(call.get("finish_reason"))] += 1
            spent[0] += prompt
            spent[1] += completion
        per_record.append(spent)
    for stage in stages.values():
        stage["finish_reasons"] = dict(stage["finish_reasons"])
        stage["cost"] = cost(stage["prompt_tokens"], stage["completion_tokens"], price_in, price_out)
    totals = {key: sum(s[key] for s in stages.values()) for key in ("calls", "cached", "prompt_tokens", "completion_tokens")}
    totals["cost"] = cost(totals["prompt_tokens"], totals["completion_tokens"], price_in, price_out)
    spent_total = np.array([p + c for p, c in per_record]) if per_record else np.zeros(0)
    records = len(per_record)
    return {
        "records": records, "stages": dict(stages), "totals": totals,
        "per_record": {
            "prompt_tokens": totals["prompt_tokens"] / records if records else None,
            "completion_tokens": totals["completion_tokens"] / records if records else None,
            "calls": totals["calls"] / records if records else None,
            "tokens_p50": float(np.percentile(spent_total, 50)) if records else None,
            "tokens_p95": float(np.percentile(spent_total, 95)) if records else None,
            "cost": totals["cost"] / records if records and totals["cost"] is not None else None,
        },
        "price_in": price_in, "price_out": price_out,
    }
