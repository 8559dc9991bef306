"""`synthloom review` on a 100,000-record run: a page of 50 records over HTTP vs the same page read
straight from SQLite.

    python benchmarks/bench_review.py [-n 100000] [--rounds 40] [--run DIR]

Makes the run with the fake backend (`synthloom run recipes/sentiment.yaml --dry-run`, kept in a
temp dir unless --run names one to reuse), starts `synthloom review RUN --no-browser` in its own
process (the index is built once, at start: its time is reported too), and times, over HTTP on loopback, pages at spread offsets: no
filter; slot values, a text search, a person's decisions and all three together, each as the
first page of a filter new to the server (one query per round) and, for a slot value, as the next
pages of a filter already shown (after a bulk reject of 10% by the API). The baseline is the bare minimum for the same page: `SELECT row FROM records ORDER BY idx LIMIT 50
OFFSET k` on an open connection plus parsing the rows. Goal: every page under 100 ms. Writes
benchmarks/results/review.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))
PAGE = 50
GOAL_MS = 100.0


def make_run(n: int, out: Path) -> float:
    if (out / "run.json").is_file() and json.loads((out / "run.json").read_text())["n"] == n:
        return 0.0
    started = time.monotonic()
    subprocess.run([SYNTHLOOM, "run", str(ROOT / "recipes" / "sentiment.yaml"), "-n", str(n), "--dry-run", "--quiet",
                    "--out", str(out)], check=True, capture_output=True)
    return time.monotonic() - started


def baseline_ms(run: Path, offsets: list[int]) -> list[float]:
    db = sqlite3.connect(f"{(run / 'store.sqlite').resolve().as_uri()}?mode=ro", uri=True)
    times = []
    for offset in offsets:
        started = time.perf_counter()
        rows = [orjson.loads(r) for (r,) in db.execute("SELECT row FROM records ORDER BY idx LIMIT ? OFFSET ?", (PAGE, offset))]
        times.append((time.perf_counter() - started) * 1000)
        assert len(rows) == PAGE
    db.close()
    return times


def app_ms(base: str, token: str, offsets: list[int], query: str) -> tuple[list[float], int]:
    times, total = [], 0
    for offset in offsets:
        request = urllib.request.Request(f"{base}/api/records?limit={PAGE}&offset={offset}{query}",
                                         headers={"X-Review-Token": token})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        times.append((time.perf_counter() - started) * 1000)
        total = body["total"]
    return times, total


def post(base: str, token: str, path: str, payload: dict) -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(payload).encode(), method="POST",
                                     headers={"X-Review-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--run", type=Path, help="a directory to make (or reuse) the run in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or Path(tmp) / "run"
        made = make_run(args.n, run)
        print(f"{args.n:,}-record dry run ready ({made:.0f} s)", flush=True)
        began = time.monotonic()
        server = subprocess.Popen([SYNTHLOOM, "review", str(run), "--no-browser"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            url = server.stdout.readline().split(" at ", 1)[1].strip()
            index_s = time.monotonic() - began
            result = measure(run, url, index_s, args)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
    out = ROOT / "benchmarks" / "results" / "review.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"worst p95 {result['worst_p95_ms']:.1f} ms (goal < {GOAL_MS:.0f} ms): {'met' if result['goal_met'] else 'MISSED'}")
    return 0


def scenario_queries(rounds: int) -> dict[str, list[str] | str]:
    """Per scenario: one query per round (each new to the server: a first page, nothing cached),
    or one query paged through at spread offsets (the next pages of a filter)."""
    entities = yaml.safe_load((ROOT / "recipes" / "sentiment.yaml").read_text())["entities"]
    q = urllib.parse.quote
    categories, personas, aspects = entities["category"], entities["persona"], entities["aspect"]
    pick = lambda values, i: q(values[i % len(values)])  # noqa: E731
    return {
        "no filter": "",
        "slot values, first page": [f"&slot.category={pick(categories, i)}&slot.sentiment={('positive', 'negative')[i // 30 % 2]}"
                                    for i in range(rounds)],
        "slot value, next pages": "&slot.sentiment=negative",
        "text search, first page": [f"&q={pick(personas, i).split('%20')[-1]}%20{pick(aspects, i)}" for i in range(rounds)],
        "person's decision + slot, first page": [f"&decision=rejected&slot.category={pick(categories, i)}" for i in range(rounds)],
        "not reviewed + slot + search, first page": [f"&decision=undecided&slot.persona={pick(personas, i)}&q={pick(aspects, i)}"
                                                     for i in range(rounds)],
    }


def decision_round_trip(base: str, token: str, rounds: int) -> dict:
    """What a reviewer waits for after pressing `a`: the decision, then the page's counts and list again."""
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        post(base, token, "/api/decide", {"action": "accept", "ids": [1000 + i]})
        for path in ("/api/schema", f"/api/records?limit={PAGE}&offset=1000"):
            with urllib.request.urlopen(urllib.request.Request(base + path, headers={"X-Review-Token": token}), timeout=60) as r:
                r.read()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 2)}


def measure(run: Path, url: str, index_s: float, args: argparse.Namespace) -> dict:
    """Time every scenario's pages against the running server."""
    base, token = url.split("/?")[0], url.split("token=", 1)[1]
    step = max(1, (args.n - PAGE) // args.rounds)
    offsets = [i * step for i in range(args.rounds)]
    bulk = post(base, token, "/api/decide", {"action": "reject", "reason": "bench", "filter": {"slot.aspect": "price"}})
    base_times = baseline_ms(run, offsets)
    result = {"n": args.n, "page": PAGE, "rounds": args.rounds, "index_seconds": round(index_s, 2),
              "bulk_reject": bulk["count"], "baseline_median_ms": round(statistics.median(base_times), 3), "scenarios": {}}
    print(f"index built in {index_s:.1f} s; bulk reject of {bulk['count']:,} records; baseline page "
          f"{result['baseline_median_ms']:.2f} ms", flush=True)
    app_ms(base, token, [0, 0, 0], "")  # warm
    for name, queries in scenario_queries(args.rounds).items():
        if isinstance(queries, list):
            times, totals = [], []
            for query in queries:
                took, total = app_ms(base, token, [0], query)
                times += took
                totals.append(total)
            total = round(statistics.median(totals))
        else:
            _, total = app_ms(base, token, [0], queries)
            spread = [i * ((total - PAGE) // args.rounds) for i in range(args.rounds)] if total > PAGE else [0] * args.rounds
            times, total = app_ms(base, token, spread, queries)
        median, worst = statistics.median(times), max(times)
        result["scenarios"][name] = {"matching": total, "median_ms": round(median, 2), "p95_ms": round(
            sorted(times)[int(0.95 * (len(times) - 1))], 2), "max_ms": round(worst, 2),
            "ratio_vs_sqlite": round(median / result["baseline_median_ms"], 2)}
        print(f"  {name:<42} {total:>7,} matching (median): median {median:6.2f} ms, max {worst:6.2f} ms, "
              f"{median / result['baseline_median_ms']:.2f}x the bare SQLite page", flush=True)
    result["decision"] = decision_round_trip(base, token, args.rounds)
    d = result["decision"]
    print(f"  a decision + the counts + the page again: median {d['median_ms']:.1f} ms, p95 {d['p95_ms']:.1f} ms", flush=True)
    worst = max(s["p95_ms"] for s in result["scenarios"].values())
    result.update(worst_p95_ms=worst, goal_ms=GOAL_MS, goal_met=worst < GOAL_MS,
                  ratio=result["scenarios"]["no filter"]["ratio_vs_sqlite"], load_avg=os.getloadavg()[0])
    return result


if __name__ == "__main__":
    sys.exit(main())
