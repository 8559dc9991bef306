"""Batched decoding on the embedded backend: total tokens/s against single-stream decoding.

Three sides, the same rendered prompts, seeds and params, each side in a fresh process per
round (llama.cpp's CPU thread pool is per process), rounds interleaved and the sides' order
rotated, so a busy neighbour hurts all three alike; per-round ratios, then their median:

  direct     llama-cpp-python as a user calls it: one Llama, create_chat_completion per prompt,
             with flash attention on as the embedded backend has it (the goal's baseline)
  direct_default  the same with llama-cpp-python's defaults (flash attention off), for reference
  unbatched  EmbeddedBackend(parallel=1), `concurrency` requests in flight (served one at a time)
  batched    EmbeddedBackend(parallel=P), `concurrency` requests in flight, decoded together
  one_in_engine  EmbeddedBackend(parallel=P), one request in flight: the batch engine with one sequence

Two ratios. End to end: completion tokens over the whole run, prompt processing included (each
prompt's own tokens cost as much on the batched side as alone: batching cannot speed them up on
CPU). Generation phase, as serving engines report it (vLLM's "generation throughput", llama.cpp
batched-bench's S_TG): tokens sampled per second in the engine's steps that only generate, with 8
sequences (batched) against one (one_in_engine), from the engine's own step timing.

The clock runs from the first request to the last token (model load excluded). Each round also
records how many cores other processes kept busy meanwhile (from /proc/stat and our own CPU time).

--determinism instead compares texts: the same requests (mixed max_tokens and stops) unbatched,
batched with `concurrency` in flight, and batched with 3 in flight (other batch compositions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from synthloom.backends.base import Request
from synthloom.backends.embedded import EmbeddedBackend, default_model_path

SIDES = ("direct", "unbatched", "batched", "one_in_engine", "direct_default")
TOPICS = ["cats", "dogs", "rain", "trains", "bread", "stars", "rivers", "kites", "volcanoes", "libraries", "bees",
          "lighthouses", "chess", "glaciers", "markets", "owls"]


def rendered_requests(n: int, max_tokens: int) -> list[Request]:
    """Prompts that ask for more than max_tokens, so every side decodes about n * max_tokens tokens."""
    return [Request(({"role": "user", "content": f"Write a detailed paragraph about {TOPICS[i % len(TOPICS)]}."},),
                    temperature=0.8, max_tokens=max_tokens, seed=1000 + i) for i in range(n)]


def direct(requests: list, n_threads: int, flash_attn: bool) -> tuple[int, float]:
    from llama_cpp import Llama

    llama = Llama(str(default_model_path()), n_ctx=2048, n_threads=n_threads, n_batch=512, flash_attn=flash_attn,
                  verbose=False)
    start, tokens = time.perf_counter(), 0
    for req in requests:
        out = llama.create_chat_completion(messages=list(req.messages), temperature=req.temperature,
                                           max_tokens=req.max_tokens, seed=req.seed)
        tokens += out["usage"]["completion_tokens"]
    seconds = time.perf_counter() - start
    llama.close()
    return tokens, seconds


async def embedded(requests: list, parallel: int, concurrency: int) -> tuple[int, float, dict | None]:
    """`concurrency` workers pulling requests, as the runner's workers do; and the engine's step timing."""
    backend = EmbeddedBackend(parallel=parallel)
    await backend.start()
    todo, tokens = iter(requests), 0

    async def worker() -> None:
        nonlocal tokens
        for request in todo:
            response = await backend.complete(request)  # not `tokens += await ...`: that reads tokens before awaiting
            tokens += response.usage.completion_tokens

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tokens, time.perf_counter() - start, backend.engine_stats()
    finally:
        await backend.close()


async def texts(requests: list, parallel: int, concurrency: int) -> list[str]:
    backend = EmbeddedBackend(parallel=parallel)
    await backend.start()
    gate = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> str:
        async with gate:
            return (await backend.complete(request)).text

    try:
        return await asyncio.gather(*(one(r) for r in requests))
    finally:
        await backend.close()


def determinism(args: argparse.Namespace) -> None:
    """How many texts the batched path gives exactly as the unbatched one does, per temperature."""
    for temperature in (0.0, 0.8):
        requests = [Request(r.messages, temperature=temperature, max_tokens=16 + (i * 37) % args.max_tokens,
                            seed=r.seed, stop=(".",) if i % 5 == 4 else ())
                    for i, r in enumerate(rendered_requests(args.n, args.max_tokens))]
        plain = asyncio.run(texts(requests, 1, 1))
        full = asyncio.run(texts(requests, args.parallel, args.concurrency))
        other = asyncio.run(texts(requests, args.parallel, 3))
        same = sum(a == b for a, b in zip(plain, full))
        print(f"temperature {temperature}: batched = unbatched for {same}/{len(plain)} requests; "
              f"batched ({args.concurrency} in flight) = batched (3 in flight) for "
              f"{sum(a == b for a, b in zip(full, other))}/{len(plain)}", flush=True)


def one_side(side: str, n: int, max_tokens: int, parallel: int, concurrency: int) -> None:
    requests = rendered_requests(n, max_tokens)
    engine = None
    if side.startswith("direct"):
        tokens, seconds = direct(requests, os.cpu_count() or 1, flash_attn=side == "direct")
    else:
        slots, in_flight = {"batched": (parallel, concurrency), "one_in_engine": (parallel, 1)}.get(side, (1, concurrency))
        tokens, seconds, engine = asyncio.run(embedded(requests, slots, in_flight))
    print(json.dumps({"tokens": tokens, "seconds": seconds, "engine": engine}))


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def measure(side: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "-n", str(args.n), "--max-tokens", str(args.max_tokens),
           "--parallel", str(args.parallel), "--concurrency", str(args.concurrency)]
    busy0, total0 = busy_jiffies()
    ours0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - started
    ours1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy1, total1 = busy_jiffies()
    hz = os.sysconf("SC_CLK_TCK")
    ours = (ours1.ru_utime + ours1.ru_stime) - (ours0.ru_utime + ours0.ru_stime)
    others = max(0.0, (busy1 - busy0) / hz - ours) / wall  # cores kept busy by other processes
    data = json.loads(out.strip().splitlines()[-1])
    return {**data, "rate": data["tokens"] / data["seconds"], "others": others, "load": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=16, help="generations per side per round")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=8, help="sequences decoded together on the batched side")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight on the embedded sides")
    parser.add_argument("--determinism", action="store_true", help="compare texts instead of timing")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.determinism:
        determinism(args)
        return 0
    if args.side:
        one_side(args.side, args.n, args.max_tokens, args.parallel, args.concurrency)
        return 0
    print(f"{args.rounds} rounds x {args.n} prompts x max_tokens {args.max_tokens}; batched: parallel "
          f"{args.parallel}, concurrency {args.concurrency}; {os.cpu_count()} cores", flush=True)
    rounds: list[dict[str, dict]] = []
    for number in range(args.rounds):
        order = SIDES[number % len(SIDES):] + SIDES[: number % len(SIDES)]
        result = {side: measure(side, args) for side in order}
        rounds.append(result)
        print(f"round {number + 1}: " + "; ".join(
            f"{side} {result[side]['tokens']} tok {result[side]['rate']:.1f} tok/s (others {result[side]['others']:.2f} cores)"
            for side in SIDES), flush=True)
    ratio = {name: statistics.median(r[a]["rate"] / r[b]["rate"] for r in rounds)
             for name, a, b in (("batched/direct", "batched", "direct"), ("batched/unbatched", "batched", "unbatched"),
                                ("unbatched/direct", "unbatched", "direct"),
                                ("batched/direct_default", "batched", "direct_default"),
                                ("one_in_engine/direct", "one_in_engine", "direct"))}
    ratio["generation phase: batched/one_in_engine"] = statistics.median(
        r["batched"]["engine"]["generation_tokens_per_s"] / r["one_in_engine"]["engine"]["generation_tokens_per_s"]
        for r in rounds)
    widths = [r["batched"]["engine"]["mean_sequences_per_step"] for r in rounds]
    rates = {side: statistics.median(r[side]["rate"] for r in rounds) for side in SIDES}
    others = [r[side]["others"] for r in rounds for side in SIDES]
    print(f"\n| side | tokens/s (median of {args.rounds}) |\n| --- | ---: |")
    for side in SIDES:
        print(f"| {side} | {rates[side]:.1f} |")
    print("\n" + "\n".join(f"ratio {name} (median of per-round ratios): **{value:.2f}**" for name, value in ratio.items()))
    print(f"batched side: {statistics.median(widths):.2f} sequences per step (median); generation-phase tokens/s "
          f"{statistics.median(r['batched']['engine']['generation_tokens_per_s'] for r in rounds):.1f} vs "
          f"{statistics.median(r['one_in_engine']['engine']['generation_tokens_per_s'] for r in rounds):.1f} with one "
          f"sequence")
    print(f"other processes kept {min(others):.2f}-{max(others):.2f} cores busy (median {statistics.median(others):.2f})")
    for name in ("batched/direct", "generation phase: batched/one_in_engine"):
        print(f"{name}: goal (>= 2) " + ("met" if ratio[name] >= 2 else f"MISSED ({ratio[name]:.2f})"))
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "embedded_batch.json").write_text(json.dumps(
        {"tok_s": rates, "ratios": ratio, "rounds": rounds, "n": args.n, "max_tokens": args.max_tokens,
         "parallel": args.parallel, "concurrency": args.concurrency}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
