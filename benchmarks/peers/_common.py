"""Shared by the peer runners: arguments, the inputs file, and the JSON line each one prints.

These scripts run inside a peer's own venv (see ../peer_venvs.py), never the project's, so they
import nothing from synthloom.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PROMPT = "Write a {sentiment} review of {product}."  # the same text as benchmarks/recipes/reviews.yaml
JINJA_PROMPT = "Write a {{ sentiment }} review of {{ product }}."
STARTED = time.perf_counter()  # the first thing a runner imports: later imports count as the tool's


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT/v1")
    parser.add_argument("--inputs", type=Path, required=True, help="JSONL rows with sentiment and product")
    parser.add_argument("--out", type=Path, required=True, help="a fresh directory for the tool's files")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", default="bench")
    return parser.parse_args()


def read_inputs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def report(records: int, generate_seconds: float, **extra) -> None:
    """The last stdout line: records with a non-empty output and the seconds of the tool's own call."""
    print(json.dumps({"records": records, "generate_seconds": round(generate_seconds, 3),
                      "before_generate_seconds": round(time.perf_counter() - STARTED - generate_seconds, 3), **extra}),
          flush=True)
