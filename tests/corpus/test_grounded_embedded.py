"""grounded_qa end to end on the real embedded SmolLM2 model: questions, cited answers, the judge."""

import json

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

VERDICTS = {"no_citation", "unsupported_lexical", "unsupported_judge", "no_score"}


def test_grounded_qa_on_the_embedded_model(tmp_path):
    out = tmp_path / "qa"
    result = run_cli("run", ROOT / "recipes" / "grounded_qa.yaml", "-n", "3", "--out", out, "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rows) + len(rejected) == 3
    assert {r["reason"] for r in rejected} <= VERDICTS, rejected  # only grounding verdicts, never a crash
    chunks = {json.loads(line)["id"]: json.loads(line) for line in (out / "corpus" / "chunks.jsonl").read_text().splitlines()}
    for row in rows:  # what a kept record must hold, whoever wrote it
        assert row["question"].strip() and row["answer"].strip()
        assert row["answer_citations"] and set(row["answer_citations"]) <= set(row["answer_sources"]) <= set(chunks)
        assert row["grounded"] is None and row["grounded_lexical"] >= 0.6  # the recipe's judge is off for SmolLM2
    summary = json.loads((out / "run.json").read_text())
    assert summary["this_run"]["requests_sent"] >= 2 * 3, "a question and an answer per record, at least"
    for r in rejected:  # each rejection carries the record as far as it got, and its reason
        assert r["row"]["question"].strip() and r["detail"]
    grounding = json.loads((out / "run.json").read_text())["grounding"]["grounded"]
    assert grounding["checked"] == len(rows) + sum(r["stage"] == "grounded" for r in rejected)
    assert grounding["checked"] >= 1 and "grounding (grounded):" in result.stdout  # seeded: 2 of 3 reach the check
    assert grounding["rejected_judge"] == 0
    again = run_cli("run", ROOT / "recipes" / "grounded_qa.yaml", "-n", "3", "--out", out, "--quiet")
    assert again.returncode == 0
    assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 0, "resume pays for nothing twice"
