"""Embedded backend tokens/s vs llama-cpp-python called directly, measured in the same run.

Both sides load the same GGUF, run the same rendered prompts with the same seeds and params,
and are timed from model load to the last token. Each side runs in a fresh process (llama.cpp's
CPU thread pool is per process and calling thread), rounds are interleaved, the median taken.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthloom import RunOptions, default_registry, load_recipe, run
from synthloom.backends.embedded import default_model_path
from synthloom.pipeline import build_pipeline
from synthloom.recipe import BackendSpec

RECIPE = Path(__file__).with_name("recipes") / "bench.yaml"


def direct(requests: list, n_threads: int) -> tuple[int, float]:
    """llama-cpp-python as a user would call it: one Llama, create_chat_completion per prompt."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llama = Llama(str(default_model_path()), n_ctx=2048, n_threads=n_threads, n_batch=512, flash_attn=True,
                  verbose=False)  # flash attention: the embedded backend's default (llama-cpp-python's is off)
    tokens = 0
    for req in requests:
        out = llama.create_chat_completion(messages=list(req.messages), temperature=req.temperature,
                                           max_tokens=req.max_tokens, seed=req.seed)
        tokens += out["usage"]["completion_tokens"]
    seconds = time.perf_counter() - start
    llama.close()
    return tokens, seconds


def tool(recipe, n: int) -> tuple[int, float]:
    """The whole synthloom run (store, lineage, export included) on the embedded backend."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run(recipe, n, out, backend=BackendSpec(kind="embedded"), options=RunOptions(concurrency=1))
        seconds = time.perf_counter() - start
    return result.stats.completion_tokens, seconds


def one_side(side: str, n: int, max_tokens: int) -> None:
    """Run one side once in this process and print its tokens and seconds as JSON."""
    recipe = load_recipe(RECIPE)
    stage = recipe.stages[0].model_copy(update={"params": {"temperature": 0.8, "max_tokens": max_tokens}})
    recipe = recipe.model_copy(update={"stages": [stage]})
    if side == "direct":
        pipeline = build_pipeline(recipe, default_registry())
        requests = [pipeline.stages[0].render(pipeline.new_record(i)) for i in range(n)]
        tokens, seconds = direct(requests, os.cpu_count() or 1)
    else:
        tokens, seconds = tool(recipe, n)
    print(json.dumps({"tokens": tokens, "seconds": seconds}))


def measure(side: str, n: int, max_tokens: int) -> tuple[int, float]:
    cmd = [sys.executable, __file__, "--side", side, "-n", str(n), "--max-tokens", str(max_tokens)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data["tokens"], data["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=16, help="generations per round")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--side", choices=["direct", "synthloom"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        one_side(args.side, args.n, args.max_tokens)
        return 0
    rates: dict[str, list[float]] = {"direct": [], "synthloom": []}
    for round_number in range(1, args.rounds + 1):
        d_tokens, d_seconds = measure("direct", args.n, args.max_tokens)
        t_tokens, t_seconds = measure("synthloom", args.n, args.max_tokens)
        rates["direct"].append(d_tokens / d_seconds)
        rates["synthloom"].append(t_tokens / t_seconds)
        print(f"round {round_number}: direct {d_tokens} tok in {d_seconds:.2f}s = {d_tokens / d_seconds:.1f} tok/s; "
              f"synthloom {t_tokens} tok in {t_seconds:.2f}s = {t_tokens / t_seconds:.1f} tok/s", flush=True)
    direct_rate, tool_rate = statistics.median(rates["direct"]), statistics.median(rates["synthloom"])
    # Each round's pair runs back to back, so its ratio cancels the machine's slow drifts.
    ratio = statistics.median(t / d for t, d in zip(rates["synthloom"], rates["direct"]))
    print(f"\n| command | tokens/s (median of {args.rounds}) |\n| --- | ---: |")
    print(f"| llama-cpp-python direct | {direct_rate:.1f} |\n| synthloom run, embedded | {tool_rate:.1f} |")
    print(f"\nratio synthloom/direct (median of per-round ratios): **{ratio:.2f}** (goal >= 0.95)")
    print("goal met" if ratio >= 0.95 else f"GOAL MISSED: {ratio:.2f} < 0.95")
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "embedded.json").write_text(json.dumps({"direct_tok_s": direct_rate, "synthloom_tok_s": tool_rate,
                                                       "ratio": ratio, "n": args.n, "max_tokens": args.max_tokens}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
