"""The catalog and the app's queries, without a browser: filters in SQL, search, over-representation,
a run still writing the store."""

from __future__ import annotations

import json
import sqlite3

import pytest

from synthloom.cli import main
from synthloom.review.catalog import Catalog
from synthloom.review.decisions import DecisionLog
from synthloom.review.queries import Filter, FilterError, agreement_figures, matching_indices, over_represented, page, record_detail
from synthloom.store import Store

from .conftest import RECIPE


@pytest.fixture
def catalog(run_dir):
    Store.open_dir(run_dir).close()
    opened = Catalog(run_dir)
    yield opened
    opened.close()


def rows_of(run_dir) -> list[dict]:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return [json.loads(r) for (r,) in db.execute("SELECT row FROM records UNION ALL SELECT row FROM failures")]
    finally:
        db.close()


def test_filters_match_the_rows(catalog, run_dir):
    rows = rows_of(run_dir)
    where = lambda **params: Filter.parse(params, catalog)  # noqa: E731
    assert page(catalog, where())["total"] == 60
    assert page(catalog, where(**{"slot.sentiment": "positive"}))["total"] == sum(r["sentiment"] == "positive" for r in rows)
    assert page(catalog, where(**{"score.quality": "4.."}))["total"] == sum(r["quality"] >= 4 for r in rows)
    assert page(catalog, where(**{"score.quality": "..2"}))["total"] == sum(r["quality"] <= 2 for r in rows)
    assert page(catalog, where(status="rejected", reason="low_score"))["total"] == sum(r["quality"] < 3 for r in rows)
    honey = page(catalog, where(q="hone"), limit=200)  # a prefix of a word anywhere in the record
    assert honey["total"] == sum("honey" in r["review"] for r in rows) > 0
    assert page(catalog, where(q='"; DROP TABLE records; --'))["total"] == 0
    first = page(catalog, where(), offset=50, limit=50)
    assert [i["idx"] for i in first["items"]] == list(range(50, 60))
    with pytest.raises(FilterError):
        where(**{"slot.nope": "x"})
    with pytest.raises(FilterError):
        where(decision="maybe")


def test_decision_filters_and_origins(catalog, run_dir):
    log = DecisionLog(run_dir / "store.sqlite")
    honey = [r for r in rows_of(run_dir) if r["product"] == "honey"]
    flagged = [int(r["id"].rsplit("-", 1)[1]) for r in honey]
    log.record(flagged, "reject", reason="made-up facts")
    accepted = [i for i in range(10) if i not in flagged][:3]
    log.record(accepted, "accept")
    log.close()
    where = lambda **params: Filter.parse(params, catalog)  # noqa: E731
    assert page(catalog, where(decision="rejected"))["total"] == len(flagged)
    assert page(catalog, where(decision="decided"))["total"] == len(flagged) + 3
    assert page(catalog, where(decision="undecided"))["total"] == 60 - len(flagged) - 3
    # with slot values too, the rarest value drives and the rest are looked up per record: same answers
    rows = rows_of(run_dir)
    assert page(catalog, where(decision="rejected", **{"slot.product": "honey"}))["total"] == len(flagged)
    found = page(catalog, where(decision="undecided", **{"slot.sentiment": "positive", "slot.persona": "a student"}), limit=200)
    assert {i["id"] for i in found["items"]} <= {r["id"] for r in rows if r["sentiment"] == "positive" and r["persona"] == "a student"}
    assert found["total"] == len([r for r in rows if r["sentiment"] == "positive" and r["persona"] == "a student"
                                  and r["product"] != "honey" and int(r["id"][-6:]) not in accepted])
    found = over_represented(catalog, flagged)
    top = found["rows"][0]
    assert (top["kind"], top["name"], top["value"]) == ("slot", "product", "honey")
    assert top["flagged"] == top["all"] == len(flagged) and top["lift"] == pytest.approx(60 / len(flagged), rel=1e-3)
    figures = agreement_figures(catalog)["quality"]
    assert figures["decided"] == len(flagged) + 3 and figures["threshold"] == 3


def test_one_record_in_full(catalog):
    found = record_detail(catalog, 0)
    assert [c["stage"] for c in found["calls"]][:2] == ["review", "quality"]
    assert found["calls"][0]["messages"][0]["content"].startswith("Write a")
    assert found["calls"][0]["usage"]["prompt_tokens"] > 0 and found["calls"][0]["reply"]
    assert record_detail(catalog, 10_000) is None


def test_a_run_writing_the_store_shows_up(catalog, run_dir, monkeypatch):
    monkeypatch.setattr("synthloom.review.catalog.REFRESH_EVERY", 0.0)
    assert main(["run", str(RECIPE), "-n", "90", "--dry-run", "--out", str(run_dir)]) == 0
    assert page(catalog, Filter())["total"] == 90
    assert page(catalog, Filter(q="honey"))["total"] == sum("honey" in r["review"] for r in rows_of(run_dir))
    changed = run_dir.parent / "changed.yaml"
    changed.write_text(RECIPE.read_text().replace("customer review", "short customer review"))
    assert main(["run", str(changed), "-n", "20", "--dry-run", "--out", str(run_dir)]) == 0  # records cleared, rebuilt
    assert page(catalog, Filter())["total"] == 20
    assert page(catalog, Filter(q="short"))["total"] == 20


def test_deciding_while_a_run_writes_the_store(run_dir, tmp_path, monkeypatch):
    """A run in another process commits records while the app indexes them and writes decisions:
    neither waits long, nothing is lost, and the run's run.json counts the decisions."""
    import subprocess
    import time

    from ..conftest import SYNTHLOOM

    monkeypatch.setattr("synthloom.review.catalog.REFRESH_EVERY", 0.0)
    slow = tmp_path / "slow.yaml"
    slow.write_text(RECIPE.read_text() + "backend: {kind: fake, options: {latency: 0.02}}\n")
    Store.open_dir(run_dir).close()
    catalog, log = Catalog(run_dir), DecisionLog(run_dir / "store.sqlite")
    child = subprocess.Popen([SYNTHLOOM, "run", str(slow), "-n", "400", "--concurrency", "8", "--quiet", "--out", str(run_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    decided, seen, slowest = set(), [], 0.0
    try:
        while child.poll() is None:
            total = page(catalog, Filter())["total"]
            seen.append(total)
            fresh = matching_indices(catalog, Filter(decision="undecided"))[:5]
            if fresh:
                started = time.monotonic()
                assert log.record(fresh, "reject", reason="checked while running")["count"] == len(fresh)
                slowest = max(slowest, time.monotonic() - started)
                decided.update(fresh)
            time.sleep(0.05)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    assert seen[0] == 60 and max(seen) > 60  # records appeared while it ran
    assert page(catalog, Filter())["total"] == 400
    assert page(catalog, Filter(decision="rejected"))["total"] == len(decided) > 5
    assert slowest < 5.0  # a decision's write transaction waits at most for a group commit
    summary = json.loads((run_dir / "run.json").read_text())["review"]
    assert 0 < summary["rejected"] <= len(decided)  # the ones made before the run's export
    catalog.close()
