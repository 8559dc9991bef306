"""--budget on fake-backend runs: stops within one batch of the cap, resumes with a higher one."""

import json

import pytest

from synthloom.backends.tokens import reserve_prompt_tokens
from synthloom.cli import main

PRICE_IN, PRICE_OUT = 100.0, 300.0  # $ per 1M tokens: one fake request costs about a cent

RECIPE = """\
name: reviews
seed: 3
entities:
  sentiment: [positive, negative]
  product: [coffee, tea, honey, chocolate, pasta, olive oil, cereal, jerky]
slots:
  sentiment: {from: sentiment, sampler: coverage}
  product: product
stages:
  - name: review
    prompt: "Write a {{ sentiment }} review of {{ product }} in a few sentences, as a customer would."
    params: {max_tokens: 60}
  - name: summary
    prompt: "Summarise in five words: {{ review }}"
    params: {max_tokens: 12}
"""


def run(recipe, out, *extra):
    return main(["run", str(recipe), "--out", str(out), "--dry-run", "--quiet",
                 "--price-in", str(PRICE_IN), "--price-out", str(PRICE_OUT), *extra])


def cost_of(out):
    return json.loads((out / "run.json").read_text())


def largest_hold(out):
    """The most any request of this run could have held: its prompt at 3 chars/token + max_tokens."""
    from synthloom.backends.base import Request
    from synthloom.store import Store

    store = Store.open_dir(out)
    holds = []
    for (text,) in store.db.execute("SELECT request FROM responses"):
        data = json.loads(text)
        request = Request(tuple(data["messages"]), max_tokens=data["max_tokens"])
        holds.append((reserve_prompt_tokens(request) * PRICE_IN + data["max_tokens"] * PRICE_OUT) / 1e6)
    store.close()
    return max(holds)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_budget_stops_within_one_batch_and_a_higher_budget_finishes(write_recipe, tmp_path, capsys, concurrency):
    recipe, out, n, budget = write_recipe(RECIPE), tmp_path / "o", 200, 0.40
    assert run(recipe, out, "-n", str(n), "--budget", str(budget), "--concurrency", str(concurrency)) == 0
    summary = cost_of(out)
    spent, paid = summary["cost"]["paid"]["dollars"], summary["cost"]["paid"]["requests"]
    assert summary["cost"]["budget"] == {"limit": budget, "reached": True}
    assert 0 < summary["kept"] < n and summary["rejected"] == 0  # unfinished records are not failures
    assert spent <= budget
    assert spent >= budget - concurrency * largest_hold(out)  # stopped within one batch of the cap
    assert "stopped at the budget of $0.4000" in capsys.readouterr().out
    assert (out / "rejected.jsonl").read_text() == ""

    assert run(recipe, out, "-n", str(n), "--budget", str(budget)) == 0  # same budget: nothing more is sent
    assert cost_of(out)["cost"]["this_run"]["requests"] == 0

    assert run(recipe, out, "-n", str(n), "--budget", "100") == 0
    final = cost_of(out)
    assert final["kept"] == n and final["cost"]["budget"]["reached"] is False
    assert final["cost"]["paid"]["requests"] == 2 * n  # a record cut between its two calls reused the first
    assert final["cost"]["this_run"]["requests"] == 2 * n - paid


def test_budget_run_equals_an_unbudgeted_run(write_recipe, tmp_path):
    recipe = write_recipe(RECIPE)
    run(recipe, tmp_path / "a", "-n", "60", "--budget", "0.05")
    run(recipe, tmp_path / "a", "-n", "60", "--budget", "0.2")
    run(recipe, tmp_path / "a", "-n", "60", "--budget", "10")
    run(recipe, tmp_path / "b", "-n", "60")
    assert (tmp_path / "a" / "dataset.jsonl").read_text() == (tmp_path / "b" / "dataset.jsonl").read_text()


def test_run_json_has_tokens_and_dollars_per_stage(write_recipe, tmp_path):
    recipe, out = write_recipe(RECIPE), tmp_path / "o"
    run(recipe, out, "-n", "10")
    cost = cost_of(out)["cost"]
    review, summary = cost["stages"]["review"], cost["stages"]["summary"]
    assert review["calls"] == summary["calls"] == 10
    assert review["cost"] == pytest.approx((review["prompt_tokens"] * PRICE_IN + review["completion_tokens"] * PRICE_OUT) / 1e6)
    assert cost["paid"]["dollars"] == pytest.approx(review["cost"] + summary["cost"])
    assert cost["dollars_per_kept_record"] == pytest.approx(cost["paid"]["dollars"] / 10)
    lineage = [json.loads(line) for line in (out / "lineage.jsonl").read_text().splitlines()]
    assert sum(c["usage"]["prompt_tokens"] for r in lineage for c in r["calls"]) == cost["paid"]["prompt_tokens"]


def test_prices_in_the_recipe(write_recipe, tmp_path):
    recipe = write_recipe(RECIPE + "prices:\n  fake: {input: 100, output: 300}\n")
    out = tmp_path / "o"
    assert main(["run", str(recipe), "--out", str(out), "--dry-run", "--quiet", "-n", "5", "--budget", "1"]) == 0
    assert cost_of(out)["cost"]["paid"]["dollars"] > 0


def test_budget_without_prices_is_one_line_exit_2(write_recipe, tmp_path, capsys):
    recipe = write_recipe(RECIPE)
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--dry-run", "--quiet", "--budget", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--budget needs prices" in err
    assert not (tmp_path / "o").exists()


def test_rejected_records_are_counted_in_the_cost(write_recipe, tmp_path):
    recipe = write_recipe(RECIPE + "curate:\n  - kind: regex\n    field: review\n    block: [\"positive\"]\n")
    out = tmp_path / "o"
    run(recipe, out, "-n", "20")
    summary = cost_of(out)
    assert summary["rejected"] > 0
    assert summary["cost"]["records"] == 20 and summary["cost"]["stages"]["review"]["calls"] == 20


def test_report_prices_a_run_with_the_prices_it_ran_with(write_recipe, tmp_path):
    recipe, out = write_recipe(RECIPE), tmp_path / "o"
    run(recipe, out, "-n", "6")
    assert main(["report", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["usage"]["totals"]["cost"] == pytest.approx(cost_of(out)["cost"]["paid"]["dollars"])
