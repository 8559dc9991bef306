"""Whole-command throughput of `synthloom run` against a zero-latency OpenAI server, vs a raw aiohttp client.

Both commands are timed from process start to exit, in the same run and interleaved, against
the same local server, so the ratio tool/baseline measures what synthloom adds per record
(and at startup) and nothing else. Goal: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path

from zero_latency_server import serve_subprocess

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RECIPE = "benchmarks/recipes/bench.yaml"


def _version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def baseline_cmd(url: str, n: int, k: int) -> list[str]:
    """The raw aiohttp client, as a whole command."""
    return [sys.executable, "benchmarks/raw_client.py", "--base-url", url, "-n", str(n), "--concurrency", str(k)]


def tool_cmd(args: argparse.Namespace, url: str, n: int, out: str) -> list[str]:
    """`synthloom run` on the bench recipe (or the --tool-cmd template), as a whole command."""
    k = args.concurrency
    if args.tool_cmd:
        fields = {"python": sys.executable, "synthloom": args.synthloom, "url": url, "n": n, "k": k, "out": out}
        return [token.format(**fields) for token in shlex.split(args.tool_cmd)]
    return [args.synthloom, "run", RECIPE, "-n", str(n), "--backend", "openai", "--base-url", url,
            "--model", "bench", "--concurrency", str(k), "--out", out, "--quiet"]


def timed(cmd: list[str], timeout: float) -> float:
    """Run cmd from the repo root; return its wall time, or exit 1 if it fails."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"FAILED (timeout after {timeout:.0f}s): {shlex.join(cmd)}")
    except OSError as exc:
        sys.exit(f"FAILED ({exc}): {shlex.join(cmd)}")
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        sys.exit(f"FAILED (exit code {proc.returncode}): {shlex.join(cmd)}\n{tail}")
    return seconds


def served(url: str) -> int:
    """Chat completions the zero-latency server has answered so far."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=10) as resp:
        return json.load(resp)["completions"]


def count_records(out: Path) -> int | None:
    """Lines in out/dataset.jsonl, or None if the command wrote no such file."""
    path = out / "dataset.jsonl"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def summarize(name: str, times: list[float], n: int) -> dict:
    median = statistics.median(times)
    return {"name": name, "seconds": [round(t, 3) for t in times], "median_seconds": round(median, 3),
            "records_per_s": round(n / median, 1)}


def markdown(base: dict, tool: dict, ratio: float, goal: float) -> str:
    rows = ["| command | seconds per round | median s | records/s |", "| --- | --- | ---: | ---: |"]
    for r in (base, tool):
        rows.append(f"| {r['name']} | {', '.join(f'{s:.2f}' for s in r['seconds'])} "
                    f"| {r['median_seconds']:.2f} | {r['records_per_s']:.0f} |")
    rows.append(f"\nratio tool/baseline: **{ratio:.2f}** (goal >= {goal})")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="records (requests) per command")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="baseline+tool rounds; the median is reported")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server delay per answer")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per command")
    parser.add_argument("--goal", type=float, default=0.5, help="minimum ratio tool/baseline")
    parser.add_argument("--no-warmup", action="store_true", help="skip the small untimed run of each command")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results" / "openai.json")
    parser.add_argument("--synthloom", default=str(Path(sys.executable).parent / "synthloom"), help=argparse.SUPPRESS)
    parser.add_argument("--tool-cmd", default=None, help=argparse.SUPPRESS)  # template: {python} {synthloom} {url} {n} {k} {out}
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.rounds) < 1:
        parser.error("-n, --concurrency and --rounds must be at least 1")
    if not args.tool_cmd and not os.access(args.synthloom, os.X_OK):
        sys.exit(f"FAILED: no synthloom executable at {args.synthloom} (install the package in this venv)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n, k = args.n, args.concurrency
    budget = args.timeout * 2 * (args.rounds + 1) + 60
    base_times: list[float] = []
    tool_times: list[float] = []
    out_records: list[int | None] = []
    sent: dict[str, list[int]] = {"baseline": [], "tool": []}
    with (
        serve_subprocess(model="bench", latency_ms=args.latency_ms, max_seconds=budget) as url,
        tempfile.TemporaryDirectory(prefix="synthloom-bench-") as tmp,
    ):
        print(f"server: {url}  n={n} concurrency={k} rounds={args.rounds}", flush=True)
        print(f"baseline: {shlex.join(baseline_cmd(url, n, k))}", flush=True)
        print(f"tool:     {shlex.join(tool_cmd(args, url, n, tmp + '/out-N'))}", flush=True)
        if not args.no_warmup:
            warm = min(n, 1000)
            timed(baseline_cmd(url, warm, k), args.timeout)
            timed(tool_cmd(args, url, warm, tempfile.mkdtemp(dir=tmp, prefix="warmup-")), args.timeout)
        for r in range(1, args.rounds + 1):
            before = served(url)
            base_times.append(timed(baseline_cmd(url, n, k), args.timeout))
            middle = served(url)
            out = Path(tempfile.mkdtemp(dir=tmp, prefix=f"out-{r}-"))  # fresh and empty: nothing cached
            tool_times.append(timed(tool_cmd(args, url, n, str(out)), args.timeout))
            sent["baseline"].append(middle - before)
            sent["tool"].append(served(url) - middle)
            out_records.append(count_records(out))
            written = f", {out_records[-1]} records written" if out_records[-1] is not None else ""
            print(f"round {r}: baseline {n / base_times[-1]:.0f} rec/s, tool {n / tool_times[-1]:.0f} rec/s"
                  f" ({sent['tool'][-1]} requests{written})", flush=True)
            for what, count in (("requests sent", sent["tool"][-1]), ("records written", out_records[-1])):
                if count is not None and count != n:
                    print(f"WARNING: round {r}: tool {what}: {count}, expected {n}", flush=True)

    base = summarize("baseline (raw aiohttp client)", base_times, n)
    tool = summarize("synthloom run" if not args.tool_cmd else "tool (--tool-cmd override)", tool_times, n)
    ratio = tool["records_per_s"] / base["records_per_s"]
    met = ratio >= args.goal
    print()
    print(markdown(base, tool, ratio, args.goal))
    print("\ngoal met" if met else f"\nGOAL MISSED: tool/baseline = {ratio:.2f} < {args.goal}")
    result = {
        "benchmark": "openai", "n": n, "concurrency": k, "rounds": args.rounds, "latency_ms": args.latency_ms,
        "baseline": base | {"requests_sent": sent["baseline"]},
        "tool": tool | {"requests_sent": sent["tool"], "records_written": out_records},
        "ratio": round(ratio, 3), "goal": args.goal, "goal_met": met,
        "commands": {"baseline": shlex.join(baseline_cmd("URL", n, k)),
                     "tool": shlex.join(tool_cmd(args, "URL", n, "OUT"))},
        "env": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                "aiohttp": _version("aiohttp"), "synthloom": _version("synthloom")},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
