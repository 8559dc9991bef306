"""`synthloom estimate` against what a fake-backend run then actually used."""

import json

import pytest

from synthloom.backends.fake import FakeBackend
from synthloom.cli import main
from synthloom.cost.prices import PriceTable
from synthloom.estimate import estimate, resized
from synthloom.recipe import load_recipe
from synthloom.recipe.model import BackendSpec
from tests.conftest import ROOT, SMALL_RECIPE


def run_json(out):
    return json.loads((out / "run.json").read_text())


def run(recipe, out, n):
    assert main(["run", str(recipe), "--out", str(out), "--dry-run", "--quiet", "-n", str(n)]) == 0
    return run_json(out)["cost"]


@pytest.mark.parametrize("recipe, n, sample", [
    (ROOT / "recipes" / "sentiment.yaml", 400, 1000),   # every record's prompt rendered
    (ROOT / "recipes" / "sentiment.yaml", 3000, 300),   # a sample, scaled to n
    (ROOT / "recipes" / "tinystories_hierarchical.yaml", 500, 100),  # a stage that quotes the one before
])
def test_estimate_within_10_percent_of_actual_prompt_tokens(recipe, n, sample, tmp_path):
    e = estimate(recipe, n, backend=BackendSpec(kind="fake"), sample=sample)
    actual = run(recipe, tmp_path / "o", n)
    assert e.counting.startswith("exact")
    assert e.prompt_tokens == pytest.approx(actual["paid"]["prompt_tokens"], rel=0.10)
    for name, stage in actual["stages"].items():
        assert e.stages[name].calls == pytest.approx(stage["calls"], rel=0.05)
    if n <= sample:
        assert e.prompt_tokens == actual["paid"]["prompt_tokens"]  # every prompt counted: exact


def test_estimate_cli_with_prices(tmp_path, capsys):
    recipe = ROOT / "recipes" / "sentiment.yaml"
    assert main(["estimate", str(recipe), "-n", "100000", "--backend", "fake", "--sample", "200",
                 "--price-in", "0.5", "--price-out", "1.5"]) == 0
    text = capsys.readouterr().out
    assert "estimate for 100,000 records of sentiment" in text and "review" in text and "total:" in text
    assert main(["estimate", str(recipe), "-n", "100000", "--backend", "fake", "--sample", "200",
                 "--price-in", "0.5", "--price-out", "1.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sampled"] == 200 and data["stages"]["review"]["calls"] == pytest.approx(100000)
    assert data["cost"] == pytest.approx((data["prompt_tokens"] * 0.5 + data["completion_tokens"] * 1.5) / 1e6, rel=1e-3)


def test_pilot_goes_into_the_run_directory_and_the_run_reuses_it(write_recipe, tmp_path, capsys):
    recipe, out = write_recipe(SMALL_RECIPE), tmp_path / "o"
    assert main(["estimate", str(recipe), "-n", "50", "--backend", "fake", "--pilot", "5", "--out", str(out)]) == 0
    assert "pilot: 5 records generated" in capsys.readouterr().out
    cost = run(recipe, out, 50)
    assert run_json(out)["this_run"]["requests_sent"] == 2 * 45  # the pilot's 5 records were not paid again
    assert cost["paid"]["requests"] == 100


class WordCounter(FakeBackend):
    """A backend that is not the fake one (so answers are sized), counting words as tokens."""

    name = "words"
    answers_for_free = False  # type: ignore[assignment]


def test_without_a_pilot_output_is_max_tokens_and_later_prompts_quote_answers_that_long(write_recipe):
    recipe = load_recipe(write_recipe(SMALL_RECIPE))
    e = estimate(recipe, 20, backend=WordCounter("words"))
    story, title = e.stages["story"], e.stages["title"]
    assert story.completion_source == "max_tokens" and story.completion_tokens_per_call == 40
    assert title.completion_tokens_per_call == 12
    # the title prompt is "A title for: " + a 40-word story
    assert title.prompt_tokens_per_call == pytest.approx(3 + 40, abs=1)


def test_resized_answers():
    assert len(resized("one two three", 10).split()) == 10
    assert resized("one two three four", 2) == "one two"


def test_unreachable_server_counts_approximately(write_recipe):
    recipe = load_recipe(write_recipe(SMALL_RECIPE))
    e = estimate(recipe, 10, backend=BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:9/v1"),
                 prices=PriceTable.for_run(None, 1, 1))
    assert e.counting.startswith("approximate") and "did not start" in e.counting
    assert e.prompt_tokens > 0 and e.cost > 0
