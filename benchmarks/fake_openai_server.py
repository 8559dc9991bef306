"""The benchmarks' loopback OpenAI-compatible server: zero_latency_server with --latency in seconds and timings.

Same protocol code as zero_latency_server.py (what bench_openai.py uses); this adds what the
latency and peer benchmarks need: a fixed delay given in seconds, and in GET /_stats the
monotonic times of the first and the last chat completion received, so a harness can read how
long the generation phase took as the server saw it. Bounded like the original: it binds
127.0.0.1 only and stops by itself after --max-seconds.

    python benchmarks/fake_openai_server.py --latency 0.1    # prints LISTENING <port>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from zero_latency_server import HOST, _check_host, _Config, _HTTPProtocol, spawn_server


class _TimedConfig(_Config):
    """Counts completions like _Config and notes when the first and the last one arrived."""

    def completion(self, raw: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        self.stats.setdefault("first_request_at", now)
        self.stats["last_request_at"] = now
        return super().completion(raw)


async def start_server(port: int = 0, *, model: str = "bench", latency: float = 0.0,
                       stats: dict | None = None) -> tuple[asyncio.Server, int]:
    """Start serving on 127.0.0.1 in the running loop; return the server and its port."""
    config = _TimedConfig(model, latency * 1000.0, {} if stats is None else stats)
    config.stats["latency_s"] = latency
    server = await asyncio.get_running_loop().create_server(lambda: _HTTPProtocol(config), HOST, port, backlog=1024)
    return server, server.sockets[0].getsockname()[1]


async def _serve(args: argparse.Namespace) -> None:
    server, port = await start_server(args.port, model=args.model, latency=args.latency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"LISTENING {port}", flush=True)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    server.close()
    await server.wait_closed()


@contextlib.contextmanager
def serve_subprocess(*, latency: float = 0.0, model: str = "bench", max_seconds: float = 600.0,
                     startup_timeout: float = 30.0) -> Iterator[str]:
    """Run the server in a child process; yield its base URL (http://127.0.0.1:PORT/v1)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--latency", str(latency), "--model", model,
           "--max-seconds", str(max_seconds)]
    with spawn_server(cmd, "fake_openai_server", startup_timeout, cwd=Path(__file__).resolve().parent) as url:
        yield url


def server_stats(url: str) -> dict:
    """The server's counters: completions, first_request_at, last_request_at, latency_s."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=10) as resp:
        return json.load(resp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=HOST, help=f"only {HOST} is accepted")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as LISTENING <port>)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer (e.g. 0.1)")
    parser.add_argument("--model", default="bench", help="model id listed by GET /v1/models")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    try:
        _check_host(args.host)
    except ValueError as exc:
        parser.error(str(exc))
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
