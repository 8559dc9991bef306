"""`make bench`: run every benchmark as a subprocess and write benchmarks/results.md from their results.

    .venv/bin/python benchmarks/bench_all.py [--only a,b] [--skip a,b]
    .venv/bin/python benchmarks/bench_all.py --render-only [--results-dir DIR] [--out FILE]

Each bench writes its JSON to benchmarks/results/ and its output to benchmarks/results/logs/.
A bench that fails, times out or writes no fresh results becomes a row saying so, with the reason;
the suite goes on. What ran, when, and the load average at each start go to results/bench_all.json,
from which --render-only can rebuild the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench_rows import NOTE_BUILDERS, PY, ROW_BUILDERS, Row

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
STATUS_FILE = "bench_all.json"


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    results: str  # file name under the results directory
    timeout: float
    optional: bool = False  # skipped, with a row saying so, when the script is not in this tree


BENCHES = (
    Bench("openai", "bench_openai.py", "openai.json", 1800),
    Bench("latency", "bench_latency.py", "latency.json", 900),
    Bench("peers", "bench_peers.py", "peers.json", 5400),
    Bench("embedded", "bench_embedded.py", "embedded.json", 3600),
    Bench("embedded-batch", "bench_embedded_batch.py", "embedded_batch.json", 3600, optional=True),
    Bench("dedup", "bench_dedup.py", "dedup.json", 1800),
    Bench("memory", "bench_memory.py", "memory.json", 1800),
    Bench("corpus", "bench_corpus.py", "corpus.json", 1800),
    Bench("startup", "bench_startup.py", "startup.json", 600),
    Bench("review", "bench_review.py", "review.json", 1800),
    Bench("data", "bench_data.py", "data.json", 3600),
    Bench("ray", "bench_ray.py", "ray.json", 3600),
)


@dataclass
class Outcome:
    """How one bench's run went."""

    name: str
    status: str  # ok | failed | skipped
    reason: str = ""
    seconds: float = 0.0
    load_at_start: float | None = None


def run_bench(bench: Bench, results_dir: Path) -> Outcome:
    """Run one bench from the repo root; ok only if it exits 0 and (re)writes its results file."""
    if bench.optional and not (BENCH_DIR / bench.script).is_file():
        return Outcome(bench.name, "skipped", f"no benchmarks/{bench.script} in this tree")
    log = results_dir / "logs" / f"{bench.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    target = results_dir / bench.results
    load, started = os.getloadavg()[0], time.time()
    print(f"== {bench.name}: {PY}{bench.script} (load {load:.2f}) ... ", end="", flush=True)
    try:
        with log.open("w") as out:
            code = subprocess.run([sys.executable, str(BENCH_DIR / bench.script)], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=bench.timeout).returncode
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.time() - started
    fresh = target.is_file() and target.stat().st_mtime >= started
    if code == 0 and fresh:
        outcome = Outcome(bench.name, "ok", "", seconds, load)
    elif code is None:
        outcome = Outcome(bench.name, "failed", f"timed out after {bench.timeout:.0f}s", seconds, load)
    elif code == 0:
        outcome = Outcome(bench.name, "failed", f"exit 0 but {target.name} was not written", seconds, load)
    else:
        outcome = Outcome(bench.name, "failed", f"exit code {code}: {last_line(log)}", seconds, load)
    print(f"{outcome.status} in {seconds:.0f}s" + (f": {outcome.reason}" if outcome.reason else ""), flush=True)
    return outcome


def last_line(log: Path) -> str:
    """The last line of a log that says something (an exception, FAILED: ...), shortened."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


def machine_info() -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "timestamp": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    try:
        cpu = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        info["cpu"] = cpu.split(":", 1)[1].strip()
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        info["commit"] = head + (" + uncommitted changes" if dirty else "")
    except OSError:
        pass
    return info


def rows_for(bench: Bench, outcome: Outcome | None, results_dir: Path) -> list[Row]:
    """The bench's rows from its results, or one row saying why there are none."""
    command = f"{PY}{bench.script}"
    if outcome is not None and outcome.status != "ok":
        return [Row(f"{bench.name}", f"{outcome.status}: {outcome.reason}", "—", outcome.status, command)]
    path = results_dir / bench.results
    if not path.is_file():
        return [Row(bench.name, f"not run: no {path.name}", "—", "skipped", command)]
    try:
        return ROW_BUILDERS[bench.name](json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        return [Row(bench.name, f"results not understood: {type(exc).__name__}: {exc}", "—", "failed", command)]


def notes_for(bench: Bench, outcome: Outcome | None, results_dir: Path) -> list[str]:
    """Extra lines under the table (the peers' versions and settings), when the bench ran."""
    path = results_dir / bench.results
    if bench.name not in NOTE_BUILDERS or (outcome is not None and outcome.status != "ok") or not path.is_file():
        return []
    try:
        return NOTE_BUILDERS[bench.name](json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        return []


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(results_dir: Path, status: dict) -> str:
    """results.md: the machine, then one table row per ratio."""
    m = status.get("machine", {})
    outcomes = {o["name"]: Outcome(**o) for o in status.get("outcomes", [])}
    end = status.get("load_avg_end")
    lines = [
        "# Benchmark results", "",
        f"Written by `{PY}bench_all.py` (`make bench`) at {m.get('timestamp', '?')}, commit {m.get('commit', '?')}.",
        f"Machine: {m.get('cpus', '?')} cores ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB, Python "
        f"{m.get('python', '?')}, {m.get('platform', '?')}. Load average (1, 5, 15 min) at the start: "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_avg', [])) or '?'}"
        + (f"; at the end: {', '.join(f'{x:.2f}' for x in end)}" if end else "") + ".",
        "The machine is shared: a load above the core count means other work ran at the same time. Every figure "
        "is a ratio of two measurements taken in this run, interleaved where the bench says so; the load column is "
        "the 1-minute load average when that bench started.", "",
        "| what | result | goal | pass/fail | load at start | command |", "| --- | --- | --- | --- | ---: | --- |",
    ]
    for bench in BENCHES:
        outcome = outcomes.get(bench.name)
        load = f"{outcome.load_at_start:.2f}" if outcome and outcome.load_at_start is not None else "?"
        for row in rows_for(bench, outcome, results_dir):
            lines.append(f"| {cell(row.what)} | {cell(row.result)} | {cell(row.goal)} | {cell(row.verdict)} | {load} "
                         f"| `{row.command}` |")
    for bench in BENCHES:
        notes = notes_for(bench, outcomes.get(bench.name), results_dir)
        if notes:
            lines += ["", *notes]
    lines += ["", "JSON for every row: `benchmarks/results/*.json`; each bench's output: `benchmarks/results/logs/`."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHES]
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--skip", default="", help="comma-separated benches not to run (a row says so)")
    parser.add_argument("--render-only", action="store_true", help="run nothing; rebuild the table from the results")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results",
                        help="where results are read from (the benches themselves write to benchmarks/results/)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.md")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(",")) if args.only else set(names)
    unknown = (chosen | set(filter(None, args.skip.split(",")))) - set(names)
    if unknown:
        parser.error(f"unknown benches: {', '.join(sorted(unknown))}")
    args.run = [b for b in BENCHES if b.name in chosen and b.name not in args.skip.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status_path = args.results_dir / STATUS_FILE
    if args.render_only:
        status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    else:
        status = {"machine": machine_info(), "outcomes": []}
        print(f"machine: {status['machine']}", flush=True)
        for bench in BENCHES:
            outcome = (run_bench(bench, args.results_dir) if bench in args.run
                       else Outcome(bench.name, "skipped", "not selected (--only/--skip)"))
            status["outcomes"].append(asdict(outcome))
        status["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        args.results_dir.mkdir(parents=True, exist_ok=True)
        status_path.write_text(json.dumps(status, indent=2) + "\n")
    text = render(args.results_dir, status)
    args.out.write_text(text)
    print(text)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
