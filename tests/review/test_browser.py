"""The review app in a real browser (Playwright driving Debian's chromium): page, filter, decide by
keyboard and mouse, undo, bulk-reject the neighbours of a flagged record, reload, export."""

from __future__ import annotations

import json
import re

import pytest

from synthloom.cli import main
from synthloom.review.overlay import ReviewOverlay

pytestmark = pytest.mark.slow


def current_id(page) -> str:
    return page.locator("#detail h2").inner_text()


def wait_detail(page, record_id: str) -> None:
    page.wait_for_function("id => document.querySelector('#detail h2')?.textContent === id", arg=record_id)


def row_badge(page, record_id: str) -> str:
    return page.locator(f"#list tbody tr:has(td.id:text-is('{record_id}')) td:nth-child(4)").inner_text()


def test_go_through_a_run_decide_and_export(server, run_dir, page, tmp_path):
    page.goto(server.url)
    page.wait_for_selector("#list tbody tr")
    expect_text(page, "#range", "1–50 of 60")
    assert page.locator("#list tbody tr").count() == 50

    # paging, by mouse and by keyboard
    page.click("#next")
    expect_text(page, "#range", "51–60 of 60")
    page.keyboard.press("p")
    expect_text(page, "#range", "1–50 of 60")

    # filters: a slot value, then a word of the text (FTS), then clear
    page.select_option("[data-slot=sentiment]", "positive")
    expect_text(page, "#range", "1–30 of 30")
    assert all("sentiment=positive" in t for t in page.locator("#list td.slots").all_inner_texts())
    page.fill("#q", "honey")
    page.wait_for_function("() => /of [0-9]+$/.test(document.querySelector('#range').textContent) && "
                           "[...document.querySelectorAll('#list td.snippet')].every(td => td.textContent.includes('honey'))")
    honey = int(page.locator("#range").inner_text().split(" of ")[1])
    assert 0 < honey < 30
    page.click("#clear-filters")
    expect_text(page, "#range", "1–50 of 60")

    # keyboard: j moves, a accepts (and moves on), r rejects with a reason
    wait_detail(page, "reviews-000000")
    page.keyboard.press("j")
    wait_detail(page, "reviews-000001")
    page.keyboard.press("a")
    wait_detail(page, "reviews-000002")
    assert row_badge(page, "reviews-000001") == "accepted"
    page.keyboard.press("r")
    page.fill("#reason-input", "hallucination")
    page.keyboard.press("Enter")
    wait_detail(page, "reviews-000003")
    assert row_badge(page, "reviews-000002") == "rejected: hallucination"

    # mouse: click a record, Reject…, a reason, the button
    page.click("#list tbody tr:has(td.id:text-is('reviews-000005'))")
    wait_detail(page, "reviews-000005")
    page.click("#detail button:text-is('Reject…')")
    page.fill("#reason-input", "off topic")
    page.click("#reason-ok")
    page.wait_for_function("() => document.querySelector('#list tbody tr[data-idx=\"5\"] td:nth-child(4)').textContent === 'rejected: off topic'")

    # relabel with the mouse: the slot's select in the record
    page.click("#list tbody tr:has(td.id:text-is('reviews-000000'))")
    wait_detail(page, "reviews-000000")
    old = page.locator("[data-relabel=sentiment]").input_value()
    new = "negative" if old == "positive" else "positive"
    page.select_option("[data-relabel=sentiment]", new)
    page.wait_for_function("() => document.querySelector('#list tbody tr[data-idx=\"0\"] td:nth-child(4)').textContent === 'edited sentiment'")
    page.wait_for_function("() => document.querySelector('#detail table.fields th').textContent === 'sentiment ✎'")

    # edit the text by keyboard (e, type, Ctrl+Enter), undo it (u), edit again
    page.keyboard.press("e")
    page.fill("#detail textarea", "A fixed review <b>not bold</b>.")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('.text-field[data-field=review] pre')?.textContent === 'A fixed review <b>not bold</b>.'")
    page.keyboard.press("u")
    page.wait_for_function("() => document.querySelector('.text-field[data-field=review] pre')?.textContent.startsWith('[fake')")
    page.keyboard.press("e")
    page.fill("#detail textarea", "A fixed review.")
    page.click("#detail button:text-is('Save (Ctrl+Enter)')")
    page.wait_for_function("() => document.querySelector('.text-field[data-field=review] pre')?.textContent === 'A fixed review.'")

    # a flagged record's nearest neighbours (WordLlama), all selected, rejected together
    page.click("#list tbody tr:has(td.id:text-is('reviews-000010'))")
    wait_detail(page, "reviews-000010")
    page.keyboard.press("s")
    page.wait_for_selector("#mode-banner:not([hidden])")
    similar = [int(i) for i in page.locator("#list tbody tr").evaluate_all("rows => rows.map(r => r.dataset.idx)")]
    assert len(similar) == 20 and 10 not in similar
    expect_text(page, "#selected-count", "20 selected")
    page.click("#bulk-reject")
    assert page.input_value("#reason-input") == "similar to reviews-000010"
    page.keyboard.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('#list tbody td:nth-child(4)')].every("
                           "td => td.textContent === 'rejected: similar to reviews-000010')")

    # a bulk action on a filter: every undecided dog food review, accepted at once (confirm() is accepted)
    page.click("#back-to-filter")
    page.select_option("[data-slot=product]", "dog food")
    page.select_option("#decision", "undecided")
    page.wait_for_function("() => /of [0-9]+$/.test(document.querySelector('#range').textContent)")
    page.wait_for_function("() => [...document.querySelectorAll('#list td.slots')].every(td => td.textContent.includes('dog food'))")
    dog_food = int(page.locator("#range").inner_text().split(" of ")[1])
    page.click("#all-accept")
    expect_text(page, "#range", "0 records")
    page.click("#clear-filters")
    expect_text(page, "#range", "1–50 of 60")

    # reload: every decision is still there
    page.reload()
    page.wait_for_selector("#list tbody tr")
    assert row_badge(page, "reviews-000001") == "accepted"
    page.select_option("#decision", "rejected")
    page.wait_for_function("() => document.querySelectorAll('#list tbody tr').length > 0")
    rejected = {2, 5} | set(similar)
    expect_text(page, "#range", f"1–{len(rejected)} of {len(rejected)}")

    # the other views: agreement (kappa), origins (lift), clusters
    page.click("#tabs button[data-tab=agreement]")
    page.wait_for_selector(".agreement .kappa")
    assert "Cohen's kappa" in page.locator(".agreement .kappa").inner_text()
    page.click("#tabs button[data-tab=origins]")
    page.wait_for_selector("#origins-table tbody tr td:nth-child(6)")
    page.click("#tabs button[data-tab=clusters]")
    page.fill("#cluster-k", "5")
    page.click("#clusters-run")
    page.wait_for_function("() => document.querySelectorAll('#clusters-table tbody tr').length === 5")
    page.click("#review-representatives")  # one record per cluster, to go through with j/k and a/r
    page.wait_for_selector("#mode-banner:not([hidden])")
    assert page.locator("#list tbody tr").count() == 5
    assert page.errors == []

    # export honours the decisions: rejections left out, the relabel and the edit applied
    out = tmp_path / "sft.jsonl"
    assert main(["export", str(run_dir), "--format", "sft", "--response-field", "review", "--to", str(out)]) == 0
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    overlay = ReviewOverlay.load(run_dir)
    for idx in rejected:
        assert f"reviews-{idx:06d}" not in rows
    assert rows["reviews-000000"]["messages"][-1]["content"] == "A fixed review."
    assert overlay.decided["reviews-000000"].edits == {"sentiment": new, "review": "A fixed review."}
    assert all(d.reviewer == "tester" for d in overlay.decided.values())
    accepted_dog_food = [d for d in overlay.decided.values() if d.row["product"] == "dog food" and d.verdict == "accepted"]
    assert len(accepted_dog_food) >= dog_food > 0


def expect_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s)?.textContent === t", arg=[selector, text])


HOSTILE = ['<img src=x onerror="window.__pwned = 1">', "</script><script>window.__pwned = 2</script>"]


def test_record_text_is_shown_as_text_and_runs_nothing(write_recipe_text, tmp_path, page):
    from .conftest import ServerThread, make_run

    run = make_run(tmp_path / "hostile", n=6, recipe=write_recipe_text(HOSTILE))
    running = ServerThread(run)
    try:
        page.goto(running.url)
        page.wait_for_selector("#list tbody tr")
        page.wait_for_selector("#detail .text-field pre")
        shown = page.locator("body").inner_text()
        for text in HOSTILE:
            assert text in shown  # verbatim, as text
        for _ in range(6):
            page.keyboard.press("j")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, main script").count() == 0
        assert page.errors == []
    finally:
        running.stop()


@pytest.fixture
def write_recipe_text(tmp_path):
    from .conftest import RECIPE

    def write(products: list[str]):
        source = RECIPE.read_text()
        listed = "[" + ", ".join(json.dumps(p) for p in products) + "]"
        path = tmp_path / "hostile.yaml"
        path.write_text(re.sub(r"product: \[.*\]", lambda _: f"product: {listed}", source, count=1))
        return path
    return write
