"""A tiny, fast, loopback-only OpenAI-compatible server for benchmarks and tests.

Written on asyncio's Protocol API rather than aiohttp's server so that the server costs far
less per request than the client being measured, and is never the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
_decode = json.JSONDecoder().decode
_quote = json.encoder.encode_basestring_ascii  # a JSON string literal, C-accelerated
_COMPLETION = (
    '{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":%s,"choices":[{"index":0,'
    '"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}


def _check_host(host: str) -> None:
    """Refuse anything but the IPv4 loopback address."""
    if host != HOST:
        raise ValueError(f"zero_latency_server binds {HOST} only, not {host!r}")


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    """Serialize one HTTP/1.1 response with a JSON body."""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _error(status: int, message: str) -> bytes:
    """An OpenAI-style error body."""
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": status}}).encode()


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    """The stripped value of a header in an already lower-cased header block, or None."""
    start = lower_head.find(b"\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 2
    stop = lower_head.find(b"\r\n", start)
    return lower_head[start : stop if stop >= 0 else len(lower_head)].strip()


class _Config:
    """Per-server settings and the request counter shared by its connections."""

    def __init__(self, model: str, latency_ms: float, stats: dict[str, int]) -> None:
        self.model = model
        self.latency = latency_ms / 1000.0
        self.stats = stats
        stats.setdefault("completions", 0)
        self.models_body = json.dumps(
            {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "bench"}]}
        ).encode()

    def completion(self, raw: bytes) -> tuple[int, bytes]:
        """Answer a chat-completion body: echo of the last user message (tokens ~ chars / 4)."""
        try:
            req = _decode(raw.decode("utf-8"))
            messages = req["messages"]
            last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
            if not isinstance(last, str):
                last = json.dumps(last)
            model = req.get("model") or self.model
            prompt_tokens = 1 + sum(len(str(m.get("content") or "")) for m in messages) // 4
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return 400, _error(400, f"bad chat-completion request: {exc!r}")
        self.stats["completions"] += 1
        content = "echo: " + last[:40]
        completion_tokens = 1 + len(content) // 4
        body = _COMPLETION % (self.stats["completions"], int(time.time()), _quote(str(model)), _quote(content),
                              prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
        return 200, body.encode("ascii")


class _HTTPProtocol(asyncio.Protocol):
    """One keep-alive connection; requests are handled strictly one after another."""

    def __init__(self, config: _Config) -> None:
        self.config = config
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting = False  # a delayed response is pending: parse nothing more until it is sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.waiting:
            self._process()

    def _process(self) -> None:
        """Handle every complete request in the buffer."""
        while self.transport is not None and not self.waiting:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER_BYTES:
                    self._send(400, _error(400, "headers too large"), False)
                return
            head = bytes(self.buf[:end])
            try:
                method, target, version = head.split(b"\r\n", 1)[0].split(b" ")
                lower = head.lower()
                length = int(_header(lower, b"content-length") or b"0")
                if length < 0 or b"\ntransfer-encoding:" in lower:
                    raise ValueError("negative Content-Length, or a chunked body (not supported)")
            except ValueError:
                self._send(400, _error(400, "malformed request"), False)
                return
            if length > MAX_BODY_BYTES:
                self._send(413, _error(413, "body too large"), False)
                return
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            conn = _header(lower, b"connection")
            keep_alive = conn != b"close" if version == b"HTTP/1.1" else conn == b"keep-alive"
            status, payload = self._route(method.decode("latin-1"), target.split(b"?", 1)[0].decode("latin-1"), body)
            if self.config.latency > 0:
                self.waiting = True
                loop = asyncio.get_running_loop()
                loop.call_later(self.config.latency, self._send_later, status, payload, keep_alive)
            else:
                self._send(status, payload, keep_alive)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        path = path.removesuffix("/")
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return 405, _error(405, f"{method} not allowed on {path}")
            return self.config.completion(body)
        if path in ("/v1/models", "/models") and method == "GET":
            return 200, self.config.models_body
        if path == "/_stats" and method == "GET":  # not OpenAI: lets a harness check how many requests arrived
            return 200, json.dumps(self.config.stats).encode()
        return 404, _error(404, f"no route for {method} {path}")

    def _send_later(self, status: int, payload: bytes, keep_alive: bool) -> None:
        self.waiting = False
        self._send(status, payload, keep_alive)
        self._process()

    def _send(self, status: int, payload: bytes, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(_response(status, payload, keep_alive))
        if not keep_alive:
            self.transport.close()
            self.transport = None


async def start_server(
    port: int = 0, *, model: str = "bench", latency_ms: float = 0.0, host: str = HOST,
    stats: dict[str, int] | None = None,
) -> tuple[asyncio.Server, int]:
    """Start serving in the running loop; return the server (close it yourself) and its port.

    If a stats dict is given, stats["completions"] counts the chat completions answered.
    """
    _check_host(host)
    config = _Config(model, latency_ms, {} if stats is None else stats)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HTTPProtocol(config), host, port, backlog=1024)
    return server, server.sockets[0].getsockname()[1]


async def _serve(args: argparse.Namespace) -> None:
    server, port = await start_server(args.port, model=args.model, latency_ms=args.latency_ms, host=args.host)
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
def serve_subprocess(
    *, model: str = "bench", latency_ms: float = 0.0, max_seconds: float = 600.0, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Run the server in a child process and yield its base URL, e.g. http://127.0.0.1:PORT/v1."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--port", "0", "--model", model,
           "--latency-ms", str(latency_ms), "--max-seconds", str(max_seconds)]
    with spawn_server(cmd, "zero_latency_server", startup_timeout) as url:
        yield url


@contextlib.contextmanager
def spawn_server(cmd: list[str], name: str, startup_timeout: float, cwd: Path | None = None) -> Iterator[str]:
    """Start a server that prints "LISTENING PORT" first; yield its base URL; stop it afterwards."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=cwd)
    try:
        line = _readline_with_timeout(proc, startup_timeout)
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"{name} did not start (exit code {proc.poll()}, said {line!r})")
        yield f"http://{HOST}:{int(line.split()[1])}/v1"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _readline_with_timeout(proc: subprocess.Popen, timeout: float) -> str:
    """Read the child's first stdout line, giving up after timeout seconds."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=HOST, help=f"only {HOST} is accepted")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as LISTENING <port>)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--model", default="bench", help="model id listed by GET /v1/models")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    try:
        _check_host(args.host)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
