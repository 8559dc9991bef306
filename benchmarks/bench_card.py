"""What the dataset card costs a run: `synthloom run recipes/sentiment.yaml -n N --dry-run` with the card
written at export vs the same run with the card writer replaced by an empty file, interleaved rounds,
each in a fresh process. The fake backend makes this the worst case: no model time to hide behind.

    .venv/bin/python benchmarks/bench_card.py [-n 20000] [--rounds 5]

Reports the ratio of medians for CPU time (user + sys of the child: less sensitive to other jobs
on a shared machine than wall time) and for wall time. Writes benchmarks/results/card.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = "from synthloom.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
NO_CARD = "import synthloom.export.run_files as rf; rf.write_card_to = lambda path, *a, **k: open(path, 'w').close()\n" + MAIN


def one_run(code: str, n: int, out: Path) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one whole command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, "run", "recipes/sentiment.yaml", "-n", str(n), "--dry-run", "--quiet",
                    "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"card": [], "no_card": []}
    with tempfile.TemporaryDirectory(prefix="bench-card-") as tmp:
        for round_ in range(args.rounds):
            for name, code in (("no_card", NO_CARD), ("card", MAIN)):
                out = Path(tmp) / f"{name}-{round_}"
                runs[name].append(one_run(code, args.n, out))
                shutil.rmtree(out, ignore_errors=True)
    cpu = {k: statistics.median(c for c, _ in v) for k, v in runs.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
    result = {"n": args.n, "rounds": args.rounds, "load": os.getloadavg()[0],
              "cpu_seconds": cpu, "wall_seconds": wall, "cpu_ratio": round(cpu["card"] / cpu["no_card"], 3),
              "wall_ratio": round(wall["card"] / wall["no_card"], 3), "runs": runs}
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "card.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"card at export, {args.n:,} dry-run records: CPU {cpu['card']:.2f}s vs {cpu['no_card']:.2f}s without "
          f"({result['cpu_ratio']}x); wall {wall['card']:.2f}s vs {wall['no_card']:.2f}s ({result['wall_ratio']}x); "
          f"load {result['load']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
