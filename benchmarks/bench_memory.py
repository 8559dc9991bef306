"""Peak RSS of a whole `synthloom run` (generation, store, export) at 10k and 100k records.

    python benchmarks/bench_memory.py [--sizes 10000,100000]

Each size is one `synthloom run recipes/sentiment.yaml --dry-run` in a fresh process (the fake
backend answers at once, so the run is as fast as synthloom itself can go and any per-record
memory shows). The figure of merit is the ratio of peak RSS at the largest size to the smallest:
1.0 means memory does not grow with n. Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))


def peak_rss_mb(n: int, out: Path) -> tuple[float, float]:
    """(peak RSS of the run's process in MB, seconds)."""
    script = ("import resource, sys; from synthloom.cli import main; code = main(sys.argv[1:]); "
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, "run", str(ROOT / "recipes" / "sentiment.yaml"), "-n", str(n),
                           "--dry-run", "--quiet", "--out", str(out)], capture_output=True, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rss, seconds = peak_rss_mb(n, Path(tmp) / f"run{n}")
            results[n] = {"peak_rss_mb": round(rss, 1), "seconds": round(seconds, 2), "records_per_s": round(n / seconds)}
            print(f"{n:>8,} records: peak RSS {rss:6.1f} MB, {seconds:6.1f} s", flush=True)
    ratio = results[sizes[-1]]["peak_rss_mb"] / results[sizes[0]]["peak_rss_mb"]
    print(f"peak RSS at {sizes[-1]:,} / at {sizes[0]:,} records: {ratio:.2f}x (goal: flat, and under 500 MB)")
    out = ROOT / "benchmarks" / "results" / "memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"sizes": results, "ratio": round(ratio, 3)}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
