"""Screenshots of `synthloom review` for the docs: a dry run of tests/review/recipe.yaml, some
decisions, then each view in Chromium (Playwright).

    .venv/bin/python scripts/review_screenshots.py [--out docs] [-n 300]

The decisions are made by this script, not by a person: people reject the honey reviews as made
up and mostly agree with the judge (one in seven the other way), so every view has something in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def post(base: str, token: str, payload: dict, path: str = "/api/decide") -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(payload).encode(), method="POST",
                                     headers={"X-Review-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def decide(base: str, token: str, run: Path) -> None:
    rows = [json.loads(line) for name in ("dataset.jsonl", "rejected.jsonl") for line in (run / name).read_text().splitlines()]
    rows = [r.get("row", r) for r in rows]
    index = {r["id"]: int(r["id"].rsplit("-", 1)[1]) for r in rows}
    first = sorted((r for r in rows if index[r["id"]] < 150 and "quality" in r), key=lambda r: index[r["id"]])
    accept = [index[r["id"]] for n, r in enumerate(first) if (r["quality"] >= 3) != (n % 7 == 3)]
    reject = [index[r["id"]] for n, r in enumerate(first) if (r["quality"] >= 3) == (n % 7 == 3)]
    post(base, token, {"action": "accept", "ids": accept, "reviewer": "ann"})
    post(base, token, {"action": "reject", "ids": reject, "reason": "low quality", "reviewer": "ann"})
    post(base, token, {"action": "reject", "filter": {"slot.product": "honey", "decision": "undecided"},
                       "reason": "made-up facts", "reviewer": "bob"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from synthloom.cli import main as cli
    from synthloom.review.serve import start

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "reviews"
        assert cli(["run", str(ROOT / "tests" / "review" / "recipe.yaml"), "-n", str(args.n), "--dry-run", "--quiet",
                    "--out", str(run)]) == 0
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        started = asyncio.run_coroutine_threadsafe(start(run, reviewer="ann"), loop).result(120)
        base, token = started.url.split("/?")[0], started.state.token
        decide(base, token, run)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 860})
            page.goto(started.url)
            page.wait_for_selector("#list tbody tr")
            page.click("#list tbody tr[data-idx='4']")
            page.wait_for_function("() => document.querySelector('#detail h2')?.textContent.endsWith('000004')")
            page.click("#detail details.call summary")
            page.screenshot(path=str(args.out / "review-records.png"))
            page.keyboard.press("s")
            page.wait_for_selector("#mode-banner:not([hidden])")
            page.screenshot(path=str(args.out / "review-similar.png"))
            page.click("#back-to-filter")
            page.click("#tabs button[data-tab=origins]")
            page.wait_for_selector("#origins-table tbody tr td:nth-child(6)")
            page.screenshot(path=str(args.out / "review-origins.png"))
            page.click("#tabs button[data-tab=clusters]")
            page.fill("#cluster-k", "8")
            page.click("#clusters-run")
            page.wait_for_function("() => document.querySelectorAll('#clusters-table tbody tr').length === 8")
            page.screenshot(path=str(args.out / "review-clusters.png"))
            page.click("#tabs button[data-tab=agreement]")
            page.wait_for_selector(".agreement .kappa")
            page.screenshot(path=str(args.out / "review-agreement.png"))
            browser.close()
        asyncio.run_coroutine_threadsafe(started.stop(), loop).result(60)
    print(f"wrote {', '.join(f'review-{v}.png' for v in ('records', 'similar', 'origins', 'clusters', 'agreement'))} "
          f"in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
