"""A two-stage run in batch mode against the OpenAI (or Anthropic) stand-in, killed with SIGKILL
at five moments (during an upload, between a batch's create and its id being saved, while
polling, while downloading, and at a random time), then finished by the same command.

    .venv/bin/python benchmarks/bench_batch_kills.py [-n 5000] [--provider openai|anthropic]

Reports duplicate submissions (the stand-in counts batch lines by custom_id), whether the
dataset equals an uninterrupted run's, and run.json's cost against the stand-in's own bill at
batch prices. Results: benchmarks/results/batch_kills.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import SMALL_RECIPE  # noqa: E402
from tests.providers.anthropic_standin import anthropic_standin  # noqa: E402
from tests.providers.openai_standin import openai_standin  # noqa: E402
from tests.providers.serve import KEY  # noqa: E402

SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "claude-haiku-4-5": {"input": 1.0, "output": 5.0}}


def recipe_for(tmp: Path, provider: str, max_lines: int) -> Path:
    model = MODELS[provider]
    path = tmp / "recipe.yaml"
    price = PRICES[model]
    path.write_text(SMALL_RECIPE + f"backend: {{kind: {provider}, model: {model}, batch: true, batch_settings: "
                    f"{{max_lines: {max_lines}, collect_seconds: 0.5, poll_interval: 0.2, poll_max: 1.0}}}}\n"
                    f"prices: {{{model}: {{input: {price['input']}, output: {price['output']}}}}}\n")
    return path


def command(recipe: Path, n: int, out: Path, server) -> list[str]:
    return [SYNTHLOOM, "run", str(recipe), "-n", str(n), "--base-url", server.base_url, "--quiet", "--out", str(out)]


def env_for(provider: str) -> dict[str, str]:
    return {**os.environ, ("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"): KEY}


def stored_batches(out: Path) -> list[tuple]:
    try:
        return sqlite3.connect(out / "store.sqlite").execute("SELECT batch_id, state FROM batches").fetchall()
    except sqlite3.Error:
        return []


def wait_for(condition, seconds: float = 300) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def kill_at(phase: str, server, provider: str, recipe: Path, n: int, out: Path, rng: random.Random) -> str:
    """Start the run, kill it at `phase`; what happened, in words."""
    faults = server.faults
    if phase in ("upload", "create", "content"):
        gate = threading.Event()
        faults.held.pop(phase, None)
        faults.hold[phase] = gate
    if phase == "polling":
        faults.completion_seconds = 3600
    proc = subprocess.Popen(command(recipe, n, out, server), env=env_for(provider), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if phase in ("upload", "create", "content"):
        reached = wait_for(lambda: phase in faults.held)
    elif phase == "polling":
        known = len([b for b in stored_batches(out) if b[0]])
        reached = wait_for(lambda: len([b for b in stored_batches(out) if b[0]]) > known)
    else:
        time.sleep(rng.uniform(0.5, 3.0))
        reached = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if phase in ("upload", "create", "content"):
        faults.hold.pop(phase).set()
    faults.completion_seconds = 1
    return f"{phase}: {'killed there' if reached else 'phase not reached before the run ended'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="records (two requests each; default 5000)")
    parser.add_argument("--provider", choices=sorted(MODELS), default="openai")
    parser.add_argument("--max-lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    standin = openai_standin if args.provider == "openai" else anthropic_standin
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-kills-"))
    try:
        recipe = recipe_for(tmp, args.provider, args.max_lines)
        with standin() as server:
            server.faults.completion_seconds = 1
            kills = [kill_at(phase, server, args.provider, recipe, args.n, tmp / "killed", rng)
                     for phase in ("upload", "create", "polling", "content", "random")]
            started = time.perf_counter()
            final = subprocess.run(command(recipe, args.n, tmp / "killed", server), env=env_for(args.provider),
                                   capture_output=True, text=True)
            finish_seconds = time.perf_counter() - started
            if final.returncode != 0:
                raise SystemExit(f"the final run failed: {final.stderr}")
            summary = json.loads((tmp / "killed" / "run.json").read_text())
            bill = server.ledger.bill(PRICES)
            submissions = server.ledger.submissions
            billed = server.ledger.billed
        with standin() as clean_server:
            clean_server.faults.completion_seconds = 1
            started = time.perf_counter()
            subprocess.run(command(recipe, args.n, tmp / "clean", clean_server), env=env_for(args.provider), check=True,
                           capture_output=True)
            clean_seconds = time.perf_counter() - started
        same = (tmp / "killed" / "dataset.jsonl").read_text() == (tmp / "clean" / "dataset.jsonl").read_text()
        result = {
            "provider": args.provider, "records": args.n, "requests": 2 * args.n, "kills": kills,
            "distinct_requests_submitted": len(submissions), "lines_submitted": sum(submissions.values()),
            "requests_submitted_more_than_once": sum(1 for c in submissions.values() if c > 1),
            "requests_paid_more_than_once": sum(1 for c in billed.values() if c > 1),
            "kept": summary["kept"], "dataset_equals_uninterrupted_run": same,
            "run_json_dollars": summary["cost"]["paid"]["dollars"], "standin_bill_dollars": round(bill, 6),
            "batches_in_directory": len(summary["batches"]["batches"]),
            "final_run_seconds": round(finish_seconds, 1), "uninterrupted_run_seconds": round(clean_seconds, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = ROOT / "benchmarks" / "results" / "batch_kills.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
