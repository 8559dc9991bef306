"""Price lookup by model name, and the settings errors around prices and budgets."""

import pytest

from synthloom.backends.base import Request, Response, Usage
from synthloom.cost.budget import Budget, BudgetReached
from synthloom.cost.prices import PriceTable, dollars
from synthloom.errors import ConfigError
from synthloom.recipe.model import Price


def table(**prices):
    return PriceTable({k.replace("_", "-") if k != "any" else "*": Price(input=i, output=o) for k, (i, o) in prices.items()})


def test_exact_then_longest_prefix_then_any():
    prices = PriceTable({"gpt-4o": Price(input=2.5, output=10), "gpt-4o-mini": Price(input=0.15, output=0.6),
                         "*": Price(input=1, output=1)})
    assert prices.price("gpt-4o-mini").input == 0.15
    assert prices.price("gpt-4o-mini-2024-07-18").input == 0.15  # longest prefix wins over gpt-4o
    assert prices.price("gpt-4o-2024-08-06").input == 2.5
    assert prices.price("llama").input == 1
    assert prices.cost("gpt-4o-mini", 1_000_000, 2_000_000) == pytest.approx(0.15 + 1.2)


def test_no_price_is_none_not_zero():
    prices = PriceTable({"a": Price(input=1, output=1)})
    assert prices.cost("b", 10, 10) is None
    assert prices.total({"a": (1_000_000, 0), "b": (5, 0)}) is None
    assert prices.total({"a": (1_000_000, 0), "b": (0, 0)}) == pytest.approx(1.0)


def test_command_line_prices_override_the_recipe_and_come_in_pairs():
    assert PriceTable.for_run(None, 0.5, 1.5).price("anything").output == 1.5
    with pytest.raises(ConfigError, match="both --price-in and --price-out"):
        PriceTable.for_run(None, 0.5, None)
    with pytest.raises(ConfigError, match="0 or more"):
        PriceTable.for_run(None, -1, 1)


def test_budget_needs_prices():
    with pytest.raises(ConfigError, match="--budget needs prices"):
        Budget(PriceTable(), 5.0)


def test_hold_settle_and_refuse():
    budget = Budget(PriceTable.for_run(None, 1_000_000, 1_000_000), limit=1000.0)  # $1 per token
    request = Request(({"role": "user", "content": "x" * 30},), max_tokens=100)
    held = budget.hold(request, "m")
    assert held == pytest.approx(10 + 4 + 3 + 100)  # 30 chars / 3 + chat overhead + max_tokens
    budget.settle(held, Response("ok", usage=Usage(12, 40), model="m"), "m")
    assert budget.spent == pytest.approx(52) and budget.held == 0
    for _ in range(8):
        budget.hold(request, "m")  # 8 in flight: 52 + 8 * 117 = 988
    with pytest.raises(BudgetReached):
        budget.hold(request, "m")
    assert budget.reached


def test_dollars_format():
    assert dollars(0.01234) == "$0.0123" and dollars(1234.5) == "$1,234.50"


def test_progress_bar_shows_spend_and_budget():
    from synthloom.cli.progress import cost_text
    from synthloom.runner import RunStats

    assert cost_text(RunStats()) == ""
    budget = Budget(PriceTable.for_run(None, 1, 1), limit=5.0, spent_before=0.5, spent=0.25)
    assert cost_text(RunStats(budget=budget)) == " · $0.7500 of $5.00"
    budget.reached = True
    assert "budget reached" in cost_text(RunStats(budget=budget))
