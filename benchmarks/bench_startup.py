"""Start-up of the `synthloom` command: `--help`, `--version`, `validate` and `import synthloom`, each
as a ratio to `python -c pass` measured in the same run.

    python benchmarks/bench_startup.py [--rounds 15] [--results FILE]

Every round runs each command once, in a fresh process, in the same order (so the sides are
interleaved and a busy spell of the shared machine hits all of them); the figures are medians of
the rounds. The commands are the installed entry point of the Python running this script, as a user
types them, with bytecode caching on (PYTHONDONTWRITEBYTECODE removed: pip compiles an installed
package's .pyc files, and without them every start would compile synthloom's modules again). Writes benchmarks/results/startup.json. Goal (issue 17): `synthloom --help` in at most
0.3 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))
RECIPE = "recipes/sentiment.yaml"
GOAL_HELP_SECONDS = 0.3
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "synthloom --help": [SYNTHLOOM, "--help"],
    "synthloom --version": [SYNTHLOOM, "--version"],
    f"synthloom validate {RECIPE}": [SYNTHLOOM, "validate", RECIPE],
    "python -c 'import synthloom'": [sys.executable, "-c", "import synthloom"],
}
BASELINE = "python -c pass"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, list[float]]:
    """Seconds per command per round; one untimed round first, so every file is in the page cache and
    every module has its .pyc."""
    for command in COMMANDS.values():
        wall_seconds(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            times[name].append(wall_seconds(command))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    args = parser.parse_args()
    times = measure(args.rounds)
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    base = medians[BASELINE]
    commands = {name: {"median_s": round(m, 4), "min_s": round(min(times[name]), 4), "max_s": round(max(times[name]), 4),
                       "ratio": round(m / base, 2)} for name, m in medians.items()}
    for name, c in commands.items():
        print(f"{name:<48} median {c['median_s']:.3f} s (min {c['min_s']:.3f}, max {c['max_s']:.3f}) = {c['ratio']:.2f}x "
              f"{BASELINE}", flush=True)
    help_s = medians["synthloom --help"]
    print(f"synthloom --help: {help_s:.3f} s (goal <= {GOAL_HELP_SECONDS} s)")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "rounds": args.rounds, "baseline": BASELINE, "commands": commands, "goal_help_s": GOAL_HELP_SECONDS,
        "goal_met": help_s <= GOAL_HELP_SECONDS,
    }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
