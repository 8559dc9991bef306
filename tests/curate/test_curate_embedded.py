"""The TinyStories recipe's curation end to end on the real embedded SmolLM2 model, then its report."""

import json

import pytest

from synthloom.curate.verify.constraints import uses_word
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

CURATION = {"constraint_missed", "blocked", "too_short", "repetitive_ngrams", "refusal", "near_duplicate"}


def test_tinystories_checks_regenerates_and_reports(tmp_path):
    out = tmp_path / "s"
    result = run_cli("run", ROOT / "recipes" / "tinystories.yaml", "-n", "3", "--out", out, "--quiet", timeout=900)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rows) + len(rejected) == 3
    assert {r["reason"] for r in rejected} <= CURATION, rejected
    checked = rows + [r["row"] for r in rejected if "uses_words" in r["row"]]
    assert checked, "every record reaches the constraint check"
    for row in checked:
        info = row["uses_words"]
        assert 1 <= info["tries"] <= 2 and info["required"] >= 3
        missing = [slot for slot in ("verb", "noun", "adjective") if not uses_word(row["story"], row[slot])]
        assert len(missing) == sum(m.startswith("the word") for m in info["missing"])  # the record tells the truth
    for row in rows:  # whatever the model wrote, a kept story uses all three words
        assert all(uses_word(row["story"], row[slot]) for slot in ("verb", "noun", "adjective"))
    summary = json.loads((out / "run.json").read_text())
    figures = summary["curation"]["constraints"]["uses_words"]
    assert figures["records"] == len(checked) and figures["requests_per_record"] <= 2.0
    assert summary["this_run"]["requests_sent"] == sum(row["uses_words"]["tries"] for row in checked)
    report = run_cli("report", out, timeout=300)
    assert report.returncode == 0, report.stderr
    assert f"{len(rows)} kept, {len(rejected)} rejected" in report.stdout and "adherence `uses_words`" in report.stdout
    assert (out / "report.html").stat().st_size > 10_000
