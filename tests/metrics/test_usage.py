"""Token usage and cost from lineage entries."""

from __future__ import annotations

import pytest

from synthloom.metrics import token_usage


def call(stage, p, c, cached=False, finish="stop"):
    return {"stage": stage, "usage": {"prompt_tokens": p, "completion_tokens": c}, "cached": cached, "finish_reason": finish}


LINEAGE = [
    {"id": "r0", "calls": [call("story", 100, 300), call("judge", 400, 5)]},
    {"id": "r1", "calls": [call("story", 100, 200, cached=True), call("story", 120, 350, finish="length"), call("judge", 500, 6)]},
]


def test_tokens_per_stage_and_totals():
    usage = token_usage(LINEAGE)
    story = usage["stages"]["story"]
    assert (story["calls"], story["cached"], story["prompt_tokens"], story["completion_tokens"]) == (3, 1, 320, 850)
    assert story["finish_reasons"] == {"stop": 2, "length": 1}
    assert usage["totals"]["prompt_tokens"] == 1220 and usage["totals"]["completion_tokens"] == 861
    assert usage["records"] == 2 and usage["per_record"]["calls"] == 2.5
    assert usage["totals"]["cost"] is None and story["cost"] is None


def test_cost_at_prices_per_million_tokens():
    usage = token_usage(LINEAGE, price_in=1.0, price_out=10.0)
    assert usage["stages"]["judge"]["cost"] == pytest.approx((900 * 1 + 11 * 10) / 1e6)
    assert usage["totals"]["cost"] == pytest.approx((1220 + 8610) / 1e6)
    assert usage["per_record"]["cost"] == pytest.approx(usage["totals"]["cost"] / 2)


def test_empty_lineage():
    usage = token_usage([], price_in=1, price_out=1)
    assert usage["records"] == 0 and usage["totals"]["calls"] == 0 and usage["per_record"]["prompt_tokens"] is None


def test_percentile_is_numpys_linear_percentile_to_the_bit():
    """run.json's token percentiles are computed without numpy, and equal numpy's figures exactly."""
    import random

    np = pytest.importorskip("numpy")
    from synthloom.metrics.usage import percentile

    rng = random.Random(7)
    sizes = [1, 2, 3, 4, 5, 7, 10, 20, 21, 99, 100, 101, 1000, 4097]
    for size in sizes:
        for _ in range(20):
            values = sorted(rng.randrange(0, rng.choice([3, 1000, 10**6, 2**40])) for _ in range(size))
            for q in (0, 5, 50, 90, 95, 99, 100):
                expected = float(np.percentile(np.array(values, dtype=np.int64), q))
                assert percentile(values, q) == expected, (values, q)
