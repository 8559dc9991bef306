"""The catalog and the app's queries, without a browser: filters in SQL, search, over-representation,
a run still writing the store."""

from __future__ import annotations

import json
import sqlite3

import pytest

from synthloom.cli import main
from synthloom.review.catalog import Catalog
from synthloom.review.decisions import DecisionLog
from synthloom.review.queries import Filter, FilterError, agreement_figures, over_represented, page, record_detail
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
