"""Runs that start from a Parquet file: memory flat in the number of rows, and the cost of
reading rows against an inline list.

    python benchmarks/bench_data.py [--rows 100000,1000000] [--speed-n 100000]

1. Peak RSS of a whole dry run (`synthloom run RECIPE --dry-run`, no -n: one record per row)
   over a Parquet file of 100k and of 1M rows, each in a fresh process. Goal: under 500 MB at
   1M rows, and flat (the ratio of the two near 1).
2. Records/s of the same dry run, --speed-n records, reading rows from the 1M-row Parquet file
   (`sampler: each`) against taking them from an inline list of the same texts (`sampler:
   coverage` over 1,000 items). The ratio is the price of the data path (≥ 0.8 is the goal).
3. The one-off conversion of the 1M-row file into the run's indexed table, and the content hash.
Writes benchmarks/results/data.json.
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
STAGE = """\
stages:
  - name: label
    prompt: "Label this ticket as billing, shipping or other: {TEXT}"
    params: {max_tokens: 8}
"""
DATA_RECIPE = """\
name: bench_data
seed: 1
backend: {kind: fake}
entities:
  tickets: {file: FILE}
slots:
  ticket: {from: tickets, sampler: each}
""" + STAGE.replace("{TEXT}", "{{ ticket.text }}")
LIST_RECIPE = """\
name: bench_list
seed: 1
backend: {kind: fake}
entities:
  tickets: ITEMS
slots:
  ticket: {from: tickets, sampler: coverage}
""" + STAGE.replace("{TEXT}", "{{ ticket }}")


def text(i: int) -> str:
    return f"order {i}: my parcel number {i * 7919 % 100003} has not arrived and I was charged twice for it, please help"


def write_parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, pa.schema([("id", pa.string()), ("text", pa.string()), ("label", pa.string())])) as writer:
        for start in range(0, rows, 100_000):
            ids = range(start, min(rows, start + 100_000))
            writer.write_table(pa.table({"id": [f"t{i}" for i in ids], "text": [text(i) for i in ids],
                                         "label": [("billing", "shipping", "other")[i % 3] for i in ids]}))


def run(recipe: Path, out: Path, n: int | None = None) -> dict:
    """(peak RSS MB, seconds, records/s) of one dry run in a fresh process."""
    script = ("import resource, sys; from synthloom.cli import main; code = main(sys.argv[1:]); "
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
    args = [sys.executable, "-c", script, "run", str(recipe), "--dry-run", "--quiet", "--out", str(out)]
    started = time.monotonic()
    done = subprocess.run(args + (["-n", str(n)] if n else []), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    seconds = time.monotonic() - started
    kept = json.loads((out / "run.json").read_text())["kept"]
    return {"peak_rss_mb": round(int(done.stderr.strip().splitlines()[-1]) / 1024, 1), "seconds": round(seconds, 2),
            "records": kept, "records_per_s": round(kept / seconds)}


def conversion(path: Path, tmp: Path) -> dict:
    """Seconds to convert the file into an indexed table, and to hash its bytes alone."""
    from synthloom.sampling.tables import TableCache, TableOptions
    from synthloom.sampling.tables.readers import read_all_bytes_hash

    started = time.monotonic()
    TableCache(tmp / "convert").open_file(path, "parquet", TableOptions(), path.name)
    converted = time.monotonic() - started
    started = time.monotonic()
    read_all_bytes_hash([path])
    hashed = time.monotonic() - started
    return {"convert_s": round(converted, 2), "hash_s": round(hashed, 3),
            "file_mb": round(path.stat().st_size / 2**20, 1), "hash_mb_per_s": round(path.stat().st_size / 2**20 / hashed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--speed-n", type=int, default=100_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    results: dict = {"memory": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for rows in sizes:
            data = tmp / f"tickets{rows}.parquet"
            write_parquet(data, rows)
            recipe = tmp / f"data{rows}.yaml"
            recipe.write_text(DATA_RECIPE.replace("FILE", str(data)), encoding="utf-8")
            figures = run(recipe, tmp / f"run{rows}")
            results["memory"][rows] = figures
            print(f"{rows:>9,} rows: peak RSS {figures['peak_rss_mb']:6.1f} MB, {figures['seconds']:7.1f} s "
                  f"({figures['records_per_s']:,} records/s)", flush=True)
        largest = tmp / f"tickets{sizes[-1]}.parquet"
        results["conversion"] = conversion(largest, tmp)
        print(f"conversion of {sizes[-1]:,} rows ({results['conversion']['file_mb']} MB): "
              f"{results['conversion']['convert_s']} s; content hash {results['conversion']['hash_s']} s", flush=True)
        items = json.dumps([text(i) for i in range(1000)])
        listed = tmp / "list.yaml"
        listed.write_text(LIST_RECIPE.replace("ITEMS", items), encoding="utf-8")
        speed_recipe = tmp / f"data{sizes[-1]}.yaml"
        from_data = run(speed_recipe, tmp / "speed_data", args.speed_n)
        from_list = run(listed, tmp / "speed_list", args.speed_n)
    ratio = from_data["records_per_s"] / from_list["records_per_s"]
    memory_ratio = results["memory"][sizes[-1]]["peak_rss_mb"] / results["memory"][sizes[0]]["peak_rss_mb"]
    results.update(speed={"n": args.speed_n, "parquet": from_data, "inline_list": from_list, "ratio": round(ratio, 3)},
                   memory_ratio=round(memory_ratio, 3))
    print(f"records/s, {args.speed_n:,} records: from the {sizes[-1]:,}-row Parquet {from_data['records_per_s']:,}, "
          f"from an inline list {from_list['records_per_s']:,}: ratio {ratio:.2f}")
    print(f"peak RSS at {sizes[-1]:,} / at {sizes[0]:,} rows: {memory_ratio:.2f}x (goal: flat, and under 500 MB)")
    out = ROOT / "benchmarks" / "results" / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
