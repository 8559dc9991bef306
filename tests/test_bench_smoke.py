"""The benchmark suite's harness: a tiny latency bench for real, and results.md rendered from sample results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@pytest.fixture
def bench_all(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_all

    return bench_all


def test_bench_latency_reports_ratios_against_the_ideal(tmp_path: Path):
    # 100 requests at 50 ms and concurrency 20: an ideal of 0.25 s, long enough that the runner's
    # fixed costs (~0.1 s) leave the ratio well under 3x even on a busy 2-core machine.
    results = tmp_path / "latency.json"
    done = subprocess.run([sys.executable, str(BENCH / "bench_latency.py"), "-n", "100", "--latency", "0.05",
                           "--concurrency", "20", "--rounds", "1", "--results", str(results)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(results.read_text())
    assert data["ideal_seconds"] == pytest.approx(0.25)
    for key in ("ratio", "ratio_server_span", "ratio_whole_command", "ratio_raw_client"):
        assert isinstance(data[key], float), key
    assert 0.9 < data["ratio"] < 3.0
    assert data["ratio_server_span"] >= 0.99  # the server cannot answer faster than its latency allows
    assert data["rounds"][0]["requests"] == 100 and data["rounds"][0]["records"] == 100
    assert data["goal"] == 1.2 and data["goal_met"] == (data["ratio"] <= 1.2)


def test_bench_startup_reports_each_command_against_python_c_pass(tmp_path: Path):
    results = tmp_path / "startup.json"
    done = subprocess.run([sys.executable, str(BENCH / "bench_startup.py"), "--rounds", "1", "--results", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(results.read_text())
    assert data["baseline"] == "python -c pass" and data["commands"]["python -c pass"]["ratio"] == 1.0
    assert {"synthloom --help", "synthloom --version", "synthloom validate recipes/sentiment.yaml"} <= set(data["commands"])
    base = data["commands"]["python -c pass"]["median_s"]
    for name, command in data["commands"].items():  # both figures rounded from the same medians
        assert command["median_s"] > 0 and command["ratio"] == pytest.approx(command["median_s"] / base, rel=0.01, abs=0.01), name
    assert data["goal_help_s"] == 0.3 and data["goal_met"] == (data["commands"]["synthloom --help"]["median_s"] <= 0.3)


def sample_results(results: Path) -> None:
    """Results files shaped like the benches write them; corpus and memory have none."""
    results.mkdir()
    (results / "openai.json").write_text(json.dumps({
        "n": 20000, "concurrency": 64, "rounds": 3, "ratio": 0.61, "goal": 0.5, "goal_met": True,
        "tool": {"records_per_s": 3600.0}, "baseline": {"records_per_s": 5900.0}}))
    (results / "latency.json").write_text(json.dumps({
        "n": 1000, "latency_s": 0.1, "concurrency": 100, "rounds": [{}, {}, {}], "ideal_seconds": 1.0,
        "median_generation_seconds": 1.37, "median_wall_seconds": 2.5, "ratio": 1.37, "ratio_server_span": 1.21,
        "ratio_whole_command": 2.5, "ratio_raw_client": 1.2, "goal": 1.2, "goal_met": False}))
    (results / "peers.json").write_text(json.dumps({
        "n": 2000, "rounds": 3, "concurrency": 64, "max_tokens": 64, "temperature": 1.0, "warmup_records": 200,
        "prompt": "Write a {sentiment} review of {product}.", "peer_env": {"HF_HUB_OFFLINE": "1"},
        "synthloom": {"version": "0.1.0", "settings": "synthloom run --concurrency 64", "records_per_s": 1200.0},
        "peers": {
            "bespokelabs-curator": {"status": "ok", "version": "0.1.31", "ratio": 4.6, "ratio_in_tool": 6.0,
                                    "records_per_s": 260.0, "settings": "max_concurrent_requests 64",
                                    "requirements": ["bespokelabs-curator==0.1.31"],
                                    "installed_versions": {"bespokelabs-curator": "0.1.31", "openai": "2.30.0"}},
            "data-designer": {"status": "unavailable", "reason": "needs CUDA: nvidia-cublas-cu12"}},
        "fastest_peer": "bespokelabs-curator", "ratio_vs_fastest": 4.6, "goal": 3.0, "goal_met": True,
        "peers_not_measured": ["data-designer"]}))
    (results / "embedded.json").write_text(json.dumps({
        "direct_tok_s": 63.9, "synthloom_tok_s": 62.0, "ratio": 0.97, "n": 16, "max_tokens": 128}))
    (results / "embedded_batch.json").write_text(json.dumps({
        "tok_s": {"direct": 60.0, "unbatched": 58.0, "batched": 131.0},
        "ratios": {"batched/direct": 2.18, "batched/unbatched": 2.26, "unbatched/direct": 0.97},
        "rounds": [{"direct": {"rate": 60.0}}], "n": 16, "max_tokens": 128, "parallel": 8, "concurrency": 8}))
    (results / "dedup.json").write_text(json.dumps({
        "docs": 100000, "num_perm": 128, "threshold": 0.8,
        "tools": {"synthloom": {"docs_per_s": 30000, "recall": 0.9995, "speed_ratio_vs_datasketch": 5.47,
                                "speed_ratio_vs_rensa": 1.1},
                  "datasketch": {"docs_per_s": 5480, "recall": 0.8}, "rensa": {"docs_per_s": 27270, "recall": 0.64}}}))
    (results / "startup.json").write_text(json.dumps({
        "rounds": 15, "baseline": "python -c pass", "goal_help_s": 0.3, "goal_met": True,
        "commands": {"python -c pass": {"median_s": 0.02, "ratio": 1.0}, "synthloom --help": {"median_s": 0.08, "ratio": 4.0},
                     "synthloom --version": {"median_s": 0.1, "ratio": 5.0}}}))
    (results / "review.json").write_text(json.dumps({
        "n": 100000, "page": 50, "rounds": 40, "index_seconds": 4.2, "bulk_reject": 10000, "baseline_median_ms": 1.5,
        "scenarios": {"no filter": {"matching": 100000, "median_ms": 12.0, "p95_ms": 20.0, "max_ms": 25.0, "ratio_vs_sqlite": 8.0},
                      "text search": {"matching": 900, "median_ms": 90.0, "p95_ms": 140.0, "max_ms": 150.0, "ratio_vs_sqlite": 60.0}},
        "worst_p95_ms": 140.0, "goal_ms": 100.0, "goal_met": False, "ratio": 8.0}))
    (results / "bench_all.json").write_text(json.dumps({
        "machine": {"cpus": 2, "load_avg": [3.1, 2.9, 2.5], "python": "3.11.7", "timestamp": "2026-01-01 00:00:00"},
        "load_avg_end": [2.0, 2.5, 2.4],
        "outcomes": [{"name": "openai", "status": "ok", "load_at_start": 3.1}, {"name": "startup", "status": "ok"},
                     {"name": "corpus", "status": "failed", "reason": "exit code 1: ModuleNotFoundError: No module named 'bm25s'"},
                     {"name": "dedup", "status": "skipped", "reason": "not selected (--only/--skip)"}]}))


def table_row(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {start}"))


def test_bench_all_renders_every_bench_including_failed_and_skipped(tmp_path: Path, bench_all):
    results = tmp_path / "results"
    sample_results(results)
    out = tmp_path / "results.md"
    assert bench_all.main(["--render-only", "--results-dir", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "2 cores" in text and "3.10, 2.90, 2.50" in text and "2.00, 2.50, 2.40" in text
    assert "| what | result | goal | pass/fail | load at start | command |" in text
    openai = table_row(text, "records/s, `synthloom run` vs a raw aiohttp client")
    assert "**0.61×**" in openai and "≥ 0.5×" in openai and "| pass | 3.10 |" in openai
    assert "**1.37×**" in table_row(text, "latency-bound") and "| FAIL |" in table_row(text, "latency-bound")
    assert "| not measured |" in table_row(text, "records/s, `synthloom run` vs data-designer")
    assert "needs CUDA" in text
    fastest = table_row(text, "records/s, `synthloom run` vs the fastest peer")
    assert "**4.60×** vs bespokelabs-curator" in fastest and "| pass |" in fastest and "data-designer" in fastest
    assert "| pass |" in table_row(text, "embedded tokens/s, synthloom (one stream)")
    batched = table_row(text, "embedded tokens/s, batched/direct")
    assert "**2.18×**" in batched and "≥ 2.0×" in batched and "| pass |" in batched
    assert "| failed |" in table_row(text, "corpus") and "No module named 'bm25s'" in text
    assert "| skipped |" in table_row(text, "dedup")  # results on disk, but not from this run
    assert "not run: no memory.json" in table_row(text, "memory")
    startup = table_row(text, "start-up: `synthloom --help` vs `python -c pass`")
    assert "**4.00×** (0.080 vs 0.020 s)" in startup and "≤ 0.3 s" in startup and "| pass |" in startup
    assert "| info |" in table_row(text, "start-up: `synthloom --version`")
    review = table_row(text, "`synthloom review`: a page of 50 of 100,000 records over HTTP (no filter")
    assert "**8.0×**" in review and "| pass |" in review
    assert "| FAIL |" in table_row(text, "`synthloom review`: a page of 50 of 100,000 records over HTTP (text search")
    assert "bespokelabs-curator 0.1.31 (`pip install bespokelabs-curator==0.1.31`; openai 2.30.0)" in text


def test_bench_all_keeps_going_when_a_bench_fails(tmp_path: Path, bench_all, monkeypatch):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    results = tmp_path / "results"
    (scripts / "crash.py").write_text("raise SystemExit('FAILED: the server would not start')\n")
    (scripts / "ok.py").write_text(
        "import json, sys\n"
        f"open({str(results / 'memory.json')!r}, 'w').write(json.dumps({{'sizes': {{'10': {{'peak_rss_mb': 100}}, "
        "'100': {'peak_rss_mb': 120}}, 'ratio': 1.2}))\n")
    monkeypatch.setattr(bench_all, "BENCH_DIR", scripts)
    monkeypatch.setattr(bench_all, "BENCHES", (
        bench_all.Bench("latency", "crash.py", "latency.json", 60),
        bench_all.Bench("memory", "ok.py", "memory.json", 60),
        bench_all.Bench("embedded-batch", "absent.py", "embedded_batch.json", 60, optional=True)))
    out = tmp_path / "results.md"
    assert bench_all.main(["--results-dir", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| failed |" in table_row(text, "latency") and "the server would not start" in table_row(text, "latency")
    assert "**1.20×** (120 vs 100 MB)" in table_row(text, "peak RSS")
    assert "no benchmarks/absent.py in this tree" in table_row(text, "embedded-batch")
    status = json.loads((results / "bench_all.json").read_text())
    assert [o["status"] for o in status["outcomes"]] == ["failed", "ok", "skipped"]
    assert (results / "logs" / "latency.log").read_text().strip().endswith("the server would not start")
