"""A raw-socket load generator, used to measure the zero-latency server's own capacity.

An aiohttp client costs more CPU per request than the server does, so it cannot show how fast
the server is; this client sends prebuilt requests over K keep-alive connections and only
reads the status line and Content-Length of each answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


def _request_bytes(host: str, port: int, path: str, model: str, i: int) -> bytes:
    """One chat-completion request, shaped like the tool's."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": f"Write one calm sentence about rivers #{i}."}],
         "temperature": 1.0, "max_tokens": 64, "seed": i}
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending requests back to back."""

    def __init__(self, requests: list[bytes], budget: list[int], done: asyncio.Future) -> None:
        self.requests, self.budget, self.done = requests, budget, done
        self.buf = bytearray()
        self.need = -1  # bytes of the current response still unread; -1 = headers not parsed yet
        self.sent = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._next()

    def _next(self) -> None:
        if self.budget[0] <= 0:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.budget[0] -= 1
        self.transport.write(self.requests[self.sent % len(self.requests)])
        self.sent += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            if not head.startswith(b"http/1.1 200"):
                self._fail(RuntimeError(f"bad response: {bytes(self.buf[:200])!r}"))
                return
            start = head.index(b"content-length:") + 15
            self.need = end + 4 + int(head[start : head.index(b"\r\n", start)])
        if len(self.buf) >= self.need:
            del self.buf[: self.need]
            self.need = -1
            self._next()

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done() and self.budget[0] > 0:
            self.done.set_exception(exc or ConnectionError("server closed the connection"))


async def _run(base_url: str, n: int, concurrency: int, model: str) -> dict:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = url.path.rstrip("/") + "/chat/completions"
    requests = [_request_bytes(host, port, path, model, i) for i in range(256)]
    loop = asyncio.get_running_loop()
    budget = [n]
    futures = [loop.create_future() for _ in range(concurrency)]
    start = time.perf_counter()
    for fut in futures:
        await loop.create_connection(lambda fut=fut: _Conn(requests, budget, fut), host, port)
    await asyncio.gather(*futures)
    seconds = time.perf_counter() - start
    return {"requests": n, "seconds": round(seconds, 4), "rps": round(n / seconds, 1)}


def run_load(base_url: str, n: int, concurrency: int, model: str = "bench") -> dict:
    """Send n requests over `concurrency` connections; return requests, seconds and rps."""
    return asyncio.run(_run(base_url, n, concurrency, model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--model", default="bench")
    args = parser.parse_args(argv)
    print(json.dumps(run_load(args.base_url, args.n, args.concurrency, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
