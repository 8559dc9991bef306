"""Decisions in the run store: log, undo, what export/report/train/run.json make of them, and
what a later `synthloom run` on the same directory leaves of them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from synthloom.cli import main
from synthloom.review.decisions import DecisionError, DecisionLog
from synthloom.review.overlay import ReviewOverlay
from synthloom.store import MIGRATIONS, Store

from .conftest import RECIPE, make_run


@pytest.fixture
def log(run_dir):
    Store.open_dir(run_dir).close()
    opened = DecisionLog(run_dir / "store.sqlite")
    yield opened
    opened.close()


def kept_and_rejected(run_dir) -> tuple[list[int], list[int]]:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return ([i for (i,) in db.execute("SELECT idx FROM records ORDER BY idx")],
                [i for (i,) in db.execute("SELECT idx FROM failures ORDER BY idx")])
    finally:
        db.close()


def rid(idx: int) -> str:
    return f"reviews-{idx:06d}"


def test_the_review_tables_are_a_migration():
    assert any("CREATE TABLE decisions" in m for m in MIGRATIONS)


def test_decide_undo_and_fold(log, run_dir):
    kept, _ = kept_and_rejected(run_dir)
    a, b = kept[:2]
    log.record([a, b], "reject", reason="hallucination", reviewer="ann")
    log.record([a], "accept")
    log.record([b], "relabel", field="sentiment", value="neutral")
    overlay = ReviewOverlay.load(run_dir)
    assert overlay.decided[rid(a)].verdict == "accepted"
    assert (overlay.decided[rid(b)].verdict, overlay.decided[rid(b)].edits) == ("rejected", {"sentiment": "neutral"})
    assert log.undo()["action"] == "relabel"
    assert log.undo()["action"] == "accept"
    overlay = ReviewOverlay.load(run_dir)
    assert overlay.decided[rid(a)].verdict == "rejected" and overlay.decided[rid(b)].edits == {}
    assert log.undo()["count"] == 2
    assert log.undo() is None
    assert not ReviewOverlay.load(run_dir)
    with pytest.raises(DecisionError):
        log.record([a], "reject", reason=" ")
    with pytest.raises(DecisionError):
        log.record([a], "edit", field="sentiment", value=3)
    with pytest.raises(DecisionError):
        log.record([a], "edit", field="quality", value="five")  # a score is not text
    with pytest.raises(DecisionError):
        log.record([a], "relabel", field="sentiment", value={"not": "a label"})
    with pytest.raises(DecisionError):
        log.record([a], "relabel", field="nope", value="x")


def test_export_report_train_and_run_json_apply_decisions(log, run_dir, tmp_path):
    kept, rejected = kept_and_rejected(run_dir)
    log.record(kept[:3], "reject", reason="off topic", reviewer="ann")
    log.record([kept[3]], "edit", field="review", value="Edited by a person.")
    log.record([kept[4]], "relabel", field="sentiment", value="mixed")
    log.record([rejected[0]], "accept", reviewer="bob")  # the judge was wrong: back into the dataset
    out = tmp_path / "sft.jsonl"
    assert main(["export", str(run_dir), "--format", "sft", "--response-field", "review", "--to", str(out)]) == 0
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(rows) == len(kept) - 3 + 1
    assert not {rid(i) for i in kept[:3]} & set(rows)
    assert rows[rid(kept[3])]["messages"][-1]["content"] == "Edited by a person."
    restored = rows[rid(rejected[0])]["messages"]
    assert restored[0]["role"] == "user" and "customer review" in restored[0]["content"]  # its exact prompt, from the store

    from synthloom.report.build import build_metrics, load_run

    run = load_run(run_dir)
    assert {r["id"] for r in run.rows} == set(rows)
    assert [r["stage"] for r in run.rejected].count("review") == 3
    metrics = build_metrics(run)
    assert metrics["review"]["rejected"] == 3 and metrics["review"]["restored"] == 1
    assert metrics["review"]["reviewers"] == ["ann", "bob"]
    assert "quality" in metrics["review"]["agreement"]
    from synthloom.report.html import render_html

    page = render_html(run, metrics)
    assert 'id="review"' in page and 'id="agreement-quality"' in page and "Cohen's kappa" in page

    from synthloom.train.data import load_examples

    examples = load_examples(run_dir, "review", "sentiment")
    assert len(examples.texts) == len(rows) and "mixed" in examples.labels
    reviewed = load_examples(run_dir, "review", "sentiment", reviewed_only=True)
    assert sorted(reviewed.texts) == sorted(["Edited by a person.", rows[rid(rejected[0])]["messages"][-1]["content"],
                                             next(r for r in run.rows if r["id"] == rid(kept[4]))["review"]])

    from synthloom.review.server import write_review_summary

    assert write_review_summary(run_dir)
    summary = json.loads((run_dir / "run.json").read_text())["review"]
    assert summary["rejected"] == 3 and summary["relabelled_or_edited"] == 2


def test_evaluate_on_the_reviewed_subset(log, run_dir, tmp_path, capsys):
    kept, rejected = kept_and_rejected(run_dir)
    model = tmp_path / "model"
    assert main(["train", str(run_dir), "--text-field", "review", "--label-field", "sentiment", "--out", str(model)]) == 0
    args = ["evaluate", str(model), "--data", str(run_dir), "--text-field", "review", "--label-field", "sentiment",
            "--reviewed-only", "--out", str(tmp_path / "eval.json")]
    assert main(args) == 2
    assert "nobody has accepted" in capsys.readouterr().err
    log.record(kept[:4], "accept")
    log.record(rejected[:2], "accept")
    assert main(args) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["n"] == 6


def test_decisions_survive_a_rerun_and_a_changed_recipe_marks_changed_records_stale(log, run_dir, tmp_path):
    kept, _ = kept_and_rejected(run_dir)
    log.record(kept[:5], "reject", reason="bad")
    log.record([kept[5]], "edit", field="review", value="Mine.")
    assert main(["run", str(RECIPE), "-n", "80", "--dry-run", "--out", str(run_dir)]) == 0  # same recipe, more records
    overlay = ReviewOverlay.load(run_dir)
    assert len(overlay.decided) == 6 and overlay.stale == 0
    assert json.loads((run_dir / "run.json").read_text())["review"]["rejected"] == 5
    # a changed judge threshold: the recipe changed, records are rebuilt from the cache, identical: decisions apply
    changed = tmp_path / "threshold.yaml"
    changed.write_text(RECIPE.read_text().replace("threshold: 3", "threshold: 2"))
    assert main(["run", str(changed), "-n", "80", "--dry-run", "--out", str(run_dir)]) == 0
    assert len(ReviewOverlay.load(run_dir).decided) == 6
    # a changed prompt: every record is regenerated differently; the decisions stay in the store, not applied
    changed.write_text(RECIPE.read_text().replace("customer review", "short customer review"))
    assert main(["run", str(changed), "-n", "80", "--dry-run", "--out", str(run_dir)]) == 0
    overlay = ReviewOverlay.load(run_dir)
    assert not overlay.decided and overlay.stale == 6
    db = sqlite3.connect(run_dir / "store.sqlite")
    assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 6
    db.close()


def test_a_store_from_before_reviews_has_no_decisions(tmp_path):
    run = make_run(tmp_path / "old", n=4)
    db = sqlite3.connect(run / "store.sqlite")
    db.executescript("DROP TABLE decisions; DROP TABLE review; PRAGMA user_version = 2;")
    db.close()
    assert not ReviewOverlay.load(run)
    out = tmp_path / "x.jsonl"
    assert main(["export", str(run), "--format", "sft", "--response-field", "review", "--to", str(out)]) == 0


def test_the_hub_layout_and_its_card_apply_decisions(log, run_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from synthloom.card.hubdir import DATA_FILE, write_hub_dir
    from synthloom.review.server import write_review_summary

    kept, rejected = kept_and_rejected(run_dir)
    log.record(kept[:2], "reject", reason="made up")
    log.record([kept[2]], "edit", field="review", value="Fixed by hand.")
    log.record([rejected[0]], "accept")
    assert write_review_summary(run_dir)  # run.json's review section, as the app writes it
    records = write_hub_dir(run_dir, tmp_path / "hub")
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "hub" / DATA_FILE).to_pylist()}
    assert records == len(rows) == len(kept) - 2 + 1
    assert not {rid(i) for i in kept[:2]} & set(rows) and rid(rejected[0]) in rows
    assert rows[rid(kept[2])]["review"] == "Fixed by hand."
    card = (tmp_path / "hub" / "README.md").read_text()
    assert "## Human review" in card and "2 rejected" in card and "Cohen's kappa" in card
