"""The data-first recipes on the real SmolLM2 model: in-process and behind llama_cpp.server,
then `synthloom train` on the machine labels and `synthloom evaluate` on the human-labelled subset."""

from __future__ import annotations

import json

import pytest

from tests.backends.real_models import llama_server
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
LABELS = {"billing", "shipping", "technical", "account"}


def rows(out):
    return [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]


def test_annotate_on_the_embedded_model_then_train_and_evaluate(tmp_path):
    out = tmp_path / "annotate"
    result = run_cli("run", "recipes/annotate.yaml", "-n", "8", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    labelled = rows(out)
    assert len(labelled) == 8, (out / "rejected.jsonl").read_text()
    tickets = [json.loads(line) for line in open("data/tickets/tickets.jsonl")][:8]
    assert [r["source_id"] for r in labelled] == [t["id"] for t in tickets]  # record i is row i, joinable by id
    assert [r["ticket"]["text"] for r in labelled] == [t["text"] for t in tickets]
    assert all(r["annotation"]["label"] in LABELS for r in labelled)  # structured output held to the label set
    assert all(sorted(e["label"] for e in r["examples"]) == sorted(LABELS) for r in labelled)
    model = tmp_path / "model"
    trained = run_cli("train", out, "--text-field", "ticket.text", "--label-field", "annotation.label", "--out", model)
    if len({r["annotation"]["label"] for r in labelled}) < 2:  # SmolLM2-135M picks the first label of the enum
        assert trained.returncode == 2 and "needs at least two classes in 'annotation.label'" in trained.stderr
        assert len(trained.stderr.strip().splitlines()) == 1
        return
    assert trained.returncode == 0, trained.stderr
    scored = run_cli("evaluate", model, "--data", "data/tickets/gold.csv", "--text-field", "text", "--label-field", "label")
    assert scored.returncode == 0, scored.stderr
    scores = json.loads((model / "eval.json").read_text())
    assert scores["n"] == 60 and 0.0 <= scores["accuracy"] <= 1.0


def test_data_recipes_through_an_openai_compatible_server(tmp_path):
    with llama_server() as base_url:
        common = ["--backend", "openai", "--base-url", base_url, "--model", "smollm2", "--concurrency", "2", "--quiet"]
        annotate = run_cli("run", "recipes/annotate.yaml", "-n", "3", "--out", tmp_path / "a", *common)
        assert annotate.returncode == 0, annotate.stderr
        assert all(r["annotation"]["label"] in LABELS for r in rows(tmp_path / "a"))
        backtranslated = run_cli("run", "recipes/backtranslation_data.yaml", "-n", "2", "--out", tmp_path / "b", *common)
        assert backtranslated.returncode == 0, backtranslated.stderr
        summary = json.loads((tmp_path / "b" / "run.json").read_text())
        assert summary["kept"] + summary["rejected"] == 2 and summary["this_run"]["requests_sent"] >= 4  # a judge may re-ask
        first = [json.loads(line) for name in ("dataset.jsonl", "rejected.jsonl")
                 for line in (tmp_path / "b" / name).read_text().splitlines()]
        assert all(r.get("doc", r.get("row", {}).get("doc", {})).get("text", "").count("\n\n") >= 1 for r in first)
        rewrite = run_cli("run", "recipes/rewrite.yaml", "-n", "3", "--out", tmp_path / "r", *common)
        assert rewrite.returncode == 0, rewrite.stderr
        scored = [json.loads(line) for name in ("dataset.jsonl", "rejected.jsonl")
                  for line in (tmp_path / "r" / name).read_text().splitlines()]
        assert len(scored) == 3
        for r in scored:  # kept at or above the floor, or rejected below it (or by the refusal filter before it)
            score = r.get("row", r).get("meaning_similarity")
            if "reason" not in r:
                assert score >= 0.6
            elif r["reason"] == "meaning_changed":
                assert score < 0.6
            else:
                assert r["reason"] == "refusal"
