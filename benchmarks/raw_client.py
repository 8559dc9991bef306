"""Baseline: the fastest plain aiohttp client for N chat completions at concurrency K.

The tool is judged against this: same HTTP library, same request body shape, no recipe,
templating, validation, caching or output; only request, parse, read the content.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp

TOPICS = ("cats", "dogs", "rain", "trains", "bread", "stars", "rivers", "kites")
TONES = ("happy", "calm", "curious")


def _prompt(i: int) -> str:
    """The bench recipe's prompt for record i (cheap, deterministic)."""
    return f"Write one {TONES[i % len(TONES)]} sentence about {TOPICS[i % len(TOPICS)]}."


async def _run(base_url: str, n: int, concurrency: int, model: str) -> dict:
    url = base_url.rstrip("/") + "/chat/completions"
    next_index = iter(range(n))
    chars = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal chars
        for i in next_index:  # one shared iterator: each index is taken by exactly one worker
            body = {
                "model": model,
                "messages": [{"role": "user", "content": _prompt(i)}],
                "temperature": 1.0,
                "max_tokens": 64,
                "seed": i,
            }
            async with session.post(url, json=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"request {i}: HTTP {resp.status}: {(await resp.text())[:200]}")
                data = await resp.json()
            chars += len(data["choices"][0]["message"]["content"])

    start = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {"requests": n, "seconds": round(seconds, 4), "rps": round(n / seconds, 1), "content_chars": chars}


def run_baseline(base_url: str, n: int, concurrency: int, model: str = "bench") -> dict:
    """Send n chat completions at the given concurrency; return requests, seconds and rps."""
    return asyncio.run(_run(base_url, n, concurrency, model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("-n", type=int, default=20000, help="number of requests")
    parser.add_argument("--concurrency", type=int, default=64, help="worker coroutines and connection limit")
    parser.add_argument("--model", default="bench")
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1:
        parser.error("-n and --concurrency must be at least 1")
    print(json.dumps(run_baseline(args.base_url, args.n, args.concurrency, args.model)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
