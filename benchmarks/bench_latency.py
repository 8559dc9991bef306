"""Latency-bound throughput: `synthloom run` with N requests at a fixed server latency and concurrency K.

With a server that answers every request after L seconds, no client can finish N requests at
concurrency K in less than ceil(N / K) * L: 1,000 requests at 100 ms and K = 100 take at least
1.0 s. The figure is the generation phase (run.json's this_run.seconds: from the moment the
backend's servers have answered their start-up check to the last record stored) over that ideal, median of --rounds runs; the whole command
(process start to exit) is reported beside it. A fresh server per round also gives the span the
server saw (first request received to last answer sent). For scale, each round also times the
raw aiohttp client (raw_client.py, the bench_openai baseline) at the same settings against its
own fresh server: what this machine allows a client with no work per record. Goal: <= 1.2x.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fake_openai_server import serve_subprocess, server_stats

BENCH_DIR = Path(__file__).resolve().parent
RECIPE = BENCH_DIR / "recipes" / "bench.yaml"


def tool_cmd(synthloom: str, url: str, n: int, k: int, out: str) -> list[str]:
    return [synthloom, "run", str(RECIPE), "-n", str(n), "--backend", "openai", "--base-url", url, "--model", "bench",
            "--concurrency", str(k), "--out", out, "--quiet"]


def raw_cmd(url: str, n: int, k: int) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "raw_client.py"), "--base-url", url, "-n", str(n), "--concurrency", str(k)]


def timed(cmd: list[str], timeout: float) -> tuple[float, str]:
    """(wall seconds, stdout) of cmd; exit 1 if it fails."""
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        sys.exit(f"FAILED (timeout after {timeout:.0f}s): {shlex.join(cmd)}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        sys.exit(f"FAILED (exit code {done.returncode}): {shlex.join(cmd)}\n{tail}")
    return time.perf_counter() - start, done.stdout


def one_round(args: argparse.Namespace, work: Path) -> dict:
    """synthloom, then the raw client, each against a fresh server: seconds, server span, requests."""
    out = Path(tempfile.mkdtemp(dir=work, prefix="out-"))
    with serve_subprocess(latency=args.latency, max_seconds=args.timeout + 60) as url:
        wall, _ = timed(tool_cmd(args.synthloom, url, args.n, args.concurrency, str(out)), args.timeout)
        stats = server_stats(url)
    this_run = json.loads((out / "run.json").read_text())["this_run"]
    span = stats["last_request_at"] - stats["first_request_at"] + args.latency if stats.get("completions") else None
    got = {"wall_seconds": round(wall, 3), "generation_seconds": this_run["seconds"],
           "server_span_seconds": round(span, 3) if span is not None else None,
           "requests": stats.get("completions", 0), "records": this_run["records"]}
    if not args.no_baseline:
        with serve_subprocess(latency=args.latency, max_seconds=args.timeout + 60) as url:
            _, printed = timed(raw_cmd(url, args.n, args.concurrency), args.timeout)
        got["raw_client_seconds"] = json.loads(printed.strip().splitlines()[-1])["seconds"]
    return got


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="requests (records)")
    parser.add_argument("--latency", type=float, default=0.1, help="server seconds per answer")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="the median is reported")
    parser.add_argument("--goal", type=float, default=1.2, help="maximum generation seconds / ideal")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per command")
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw aiohttp client")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results" / "latency.json")
    parser.add_argument("--synthloom", default=str(Path(sys.executable).with_name("synthloom")), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.rounds) < 1 or args.latency <= 0:
        parser.error("-n, --concurrency and --rounds must be at least 1, --latency above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ideal = math.ceil(args.n / args.concurrency) * args.latency
    load_start = os.getloadavg()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="synthloom-bench-latency-") as tmp:
        for r in range(1, args.rounds + 1):
            rounds.append(one_round(args, Path(tmp)))
            got = rounds[-1]
            raw = f", raw aiohttp client {got['raw_client_seconds']:.3f}s" if "raw_client_seconds" in got else ""
            print(f"round {r}: generation {got['generation_seconds']:.3f}s, server span {got['server_span_seconds']}s, "
                  f"whole command {got['wall_seconds']:.2f}s, {got['requests']} requests{raw}", flush=True)
            if got["requests"] != args.n or got["records"] != args.n:
                print(f"WARNING: round {r}: {got['requests']} requests, {got['records']} records; expected {args.n}")
    median = {key: statistics.median(x[key] for x in rounds)
              for key in ("generation_seconds", "wall_seconds", "server_span_seconds", "raw_client_seconds")
              if key in rounds[0]}
    ratio = median["generation_seconds"] / ideal
    result = {
        "benchmark": "latency", "n": args.n, "latency_s": args.latency, "concurrency": args.concurrency,
        "rounds": rounds, "ideal_seconds": round(ideal, 3),
        "median_generation_seconds": median["generation_seconds"], "median_wall_seconds": median["wall_seconds"],
        "median_server_span_seconds": median["server_span_seconds"],
        "ratio": round(ratio, 3), "ratio_server_span": round(median["server_span_seconds"] / ideal, 3),
        "ratio_whole_command": round(median["wall_seconds"] / ideal, 3),
        "median_raw_client_seconds": median.get("raw_client_seconds"),
        "ratio_raw_client": round(median["raw_client_seconds"] / ideal, 3) if "raw_client_seconds" in median else None,
        "goal": args.goal,
        "goal_met": ratio <= args.goal,
        "command": shlex.join(tool_cmd("synthloom", "URL", args.n, args.concurrency, "OUT")),
        "baseline_command": shlex.join(raw_cmd("URL", args.n, args.concurrency)),
        "server": f"python benchmarks/fake_openai_server.py --latency {args.latency}",
        "env": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_start": load_start},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(f"\nideal {ideal:.3f}s; median generation {median['generation_seconds']:.3f}s = {ratio:.2f}x "
          f"(server span {result['ratio_server_span']:.2f}x, whole command {median['wall_seconds']:.2f}s = "
          f"{result['ratio_whole_command']:.2f}x); goal <= {args.goal}x: {'goal met' if result['goal_met'] else 'GOAL MISSED'}")
    if result["ratio_raw_client"] is not None:
        print(f"raw aiohttp client, same settings: {result['median_raw_client_seconds']:.3f}s = {result['ratio_raw_client']:.2f}x")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
