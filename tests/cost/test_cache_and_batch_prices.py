"""Cached-input, cache-write and batch rates in the price table, and what a budget holds."""

import pytest

from synthloom.backends.base import Request, Response, Usage
from synthloom.cost.budget import Budget
from synthloom.cost.prices import PriceTable
from synthloom.recipe.model import Price


def test_cached_and_cache_write_tokens_are_priced_apart_from_fresh_prompt_tokens():
    table = PriceTable({"m": Price(input=2.0, output=8.0, cached_input=0.5, cache_write=2.5)})
    # 1M prompt tokens of which 400k read from cache and 100k written to it
    assert table.cost("m", 1_000_000, 0, 400_000, 100_000) == pytest.approx(0.5 * 2.0 + 0.4 * 0.5 + 0.1 * 2.5)
    assert table.cost("m", 0, 1_000_000) == pytest.approx(8.0)


def test_batch_rate_defaults_to_half_and_a_table_may_set_it():
    half = PriceTable({"m": Price(input=2.0, output=8.0, cached_input=1.0)})
    assert half.cost("m", 1_000_000, 1_000_000, batch=True) == pytest.approx(1.0 + 4.0)
    assert half.cost("m", 1_000_000, 0, 1_000_000, batch=True) == pytest.approx(0.5)  # cache rate scales like input
    set_ = PriceTable({"m": Price(input=2.0, output=8.0, batch_input=1.5, batch_output=5.0)})
    assert set_.cost("m", 1_000_000, 1_000_000, batch=True) == pytest.approx(6.5)


def test_budget_holds_and_settles_a_batch_request_at_the_batch_rate():
    table = PriceTable({"m": Price(input=2.0, output=8.0)})
    request = Request(({"role": "user", "content": "x" * 3000},), max_tokens=1000)
    online, batch = Budget(table, 100.0), Budget(table, 100.0)
    assert batch.hold(request, "m", batch=True) == pytest.approx(online.hold(request, "m") / 2)
    batch.settle(batch.held, Response("a", usage=Usage(1000, 1000), model="m", batch=True), "m")
    assert batch.spent == pytest.approx((1000 * 2.0 + 1000 * 8.0) / 2 / 1e6) and batch.held == 0
