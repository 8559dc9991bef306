"""A loopback OpenAI-compatible server that answers a seeded share of requests with faults.

Each chat completion is identified by its key (a hash of the body's messages and seed: what
names one record's call); whether attempt k of a key faults, and how, is drawn from an RNG
seeded by (plan seed, key, k), so the same requests meet the same faults whatever order they
arrive in. The server keeps a ledger per key — attempts, what each attempt got, and how many
complete 200 answers were delivered — so a test can check that no answer was paid for twice.
Answers that succeed echo the prompt: "echo: " + the last user message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FAULTS", "RETRYABLE", "DELIVERED", "FaultPlan", "FaultServer", "KeyLedger", "request_key", "echo"]

RETRYABLE = ("rate_limited", "server_error", "unavailable", "dropped", "timeout", "truncated", "html")
DELIVERED = ("ok", "empty", "length")  # complete 200 chat completions: what a provider bills
FAULTS = RETRYABLE + ("empty", "length")

HTML_PAGE = """<!DOCTYPE html>
<html>
<head><title>{status} {title}</title></head>
<body>
<center><h1>{status} {title}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def request_key(body: dict[str, Any]) -> str:
    """What identifies one record's call: its messages and its seed."""
    blob = json.dumps({"messages": body.get("messages"), "seed": body.get("seed")}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def echo(prompt: str) -> str:
    """The text a successful answer carries."""
    return "echo: " + prompt


def last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    return next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")


@dataclass
class FaultPlan:
    """How often to fault, how (relative weights per kind), and the server's bounds."""

    rate: float = 0.2
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FAULTS, 1.0))
    seed: int = 0
    retry_after: tuple[float, float] = (0.05, 0.5)  # seconds, drawn per 429
    stall: float = 3.0  # how long a `timeout` fault holds the request: longer than the client's timeout
    max_seconds: float = 600.0  # the server stops by itself after this long

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")

    def draw(self, key: str, attempt: int) -> tuple[str, random.Random]:
        """The outcome of attempt `attempt` of `key` ("ok" or a fault kind), and its RNG."""
        rng = random.Random(f"{self.seed}|{key}|{attempt}")
        if rng.random() >= self.rate:
            return "ok", rng
        kinds = [k for k, w in self.weights.items() if w > 0]
        return rng.choices(kinds, [self.weights[k] for k in kinds])[0], rng


@dataclass
class KeyLedger:
    """One key's history on this server."""

    prompt: str
    outcomes: list[str] = field(default_factory=list)  # per attempt: "ok", a fault kind, or "abandoned"
    delivered: int = 0  # complete 200 completions written to a connection the client still held
    arrived: list[float] = field(default_factory=list)  # per attempt: time.monotonic() when it came in
    retry_after: dict[int, float] = field(default_factory=dict)  # attempt index → the Retry-After its 429 gave
    text: str | None = None  # the last delivered completion's text (None: content was null)
    finish_reason: str | None = None


class FaultServer:
    """The server, run on its own event loop in a daemon thread; a context manager."""

    def __init__(self, plan: FaultPlan | None = None):
        self.plan = plan or FaultPlan()
        self.ledger: dict[str, KeyLedger] = {}
        self.faults: Counter = Counter()
        self.requests = 0  # chat completions received
        self.expired = False  # stopped by max_seconds rather than by the test
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-server", daemon=True)
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def figures(self) -> dict[str, Any]:
        """Totals for a report: requests, faults per kind, keys, deliveries, abandoned answers."""
        return {"requests": self.requests, "faults": dict(sorted(self.faults.items())), "keys": len(self.ledger),
                "delivered": sum(e.delivered for e in self.ledger.values()),
                "abandoned": sum(e.outcomes.count("abandoned") for e in self.ledger.values())}

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"
        self._loop.call_later(self.plan.max_seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        if self._stopping is not None and not self._stopping.is_set():
            self._stopping.set()  # releases stalled `timeout` faults at once
            if self._runner is not None:
                await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = request_key(body)
        entry = self.ledger.setdefault(key, KeyLedger(last_user_text(body)))
        self.requests += 1
        attempt = len(entry.outcomes)
        outcome, rng = self.plan.draw(key, attempt + 1)
        entry.outcomes.append(outcome)
        entry.arrived.append(time.monotonic())
        if outcome != "ok":
            self.faults[outcome] += 1
        answer = getattr(self, f"_answer_{outcome}")
        response = await answer(request, body, entry, rng)
        if outcome in DELIVERED and not response.prepared:  # the client gave up before the answer was written
            entry.outcomes[attempt] = "abandoned"
        return response

    # --- answers, one per outcome ---

    async def _answer_ok(self, request, body, entry, rng) -> web.StreamResponse:
        return await self._deliver(request, body, entry, echo(entry.prompt), "stop")

    async def _answer_empty(self, request, body, entry, rng) -> web.StreamResponse:
        """No text: content "" or, as some servers send it, null."""
        return await self._deliver(request, body, entry, "" if rng.random() < 0.5 else None, "stop")

    async def _answer_length(self, request, body, entry, rng) -> web.StreamResponse:
        text = echo(entry.prompt)
        return await self._deliver(request, body, entry, text[: max(1, len(text) // 2)], "length")

    async def _answer_rate_limited(self, request, body, entry, rng) -> web.Response:
        wait = round(rng.uniform(*self.plan.retry_after), 2)
        entry.retry_after[len(entry.outcomes) - 1] = wait
        return error_json(429, "Rate limit reached for requests", {"Retry-After": f"{wait:.2f}"})

    async def _answer_server_error(self, request, body, entry, rng) -> web.Response:
        return error_json(500, "The server had an error while processing your request")

    async def _answer_unavailable(self, request, body, entry, rng) -> web.Response:
        page = HTML_PAGE.format(status=503, title="Service Temporarily Unavailable")
        return web.Response(status=503, text=page, content_type="text/html")

    async def _answer_html(self, request, body, entry, rng) -> web.Response:
        """A 200 that is not JSON: a captive portal or a misrouted proxy's page."""
        return web.Response(status=200, text=HTML_PAGE.format(status=200, title="Welcome"), content_type="text/html")

    async def _answer_truncated(self, request, body, entry, rng) -> web.StreamResponse:
        """Half a completion: either all that a short Content-Length announces, or the connection
        closing before the announced length arrives."""
        full = completion_body(echo(entry.prompt), "stop", body)
        cut = full[: len(full) // 2]
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(cut) if rng.random() < 0.5 else len(full)
        await response.prepare(request)
        await response.write(cut)
        if response.content_length == len(cut):
            await response.write_eof()
        else:
            drop(request)
        return response

    async def _answer_dropped(self, request, body, entry, rng) -> web.StreamResponse:
        drop(request)
        return web.Response(status=204)  # never written: the connection is gone

    async def _answer_timeout(self, request, body, entry, rng) -> web.StreamResponse:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), self.plan.stall)
        except TimeoutError:
            pass
        drop(request)
        return web.Response(status=204)

    async def _deliver(self, request: web.Request, body: dict, entry: KeyLedger, text: str | None,
                       finish_reason: str) -> web.StreamResponse:
        """Write a complete completion, counting it as delivered if the client was still there."""
        response = web.Response(body=completion_body(text, finish_reason, body), content_type="application/json")
        transport = request.transport
        if transport is None or transport.is_closing():
            return response  # not prepared: _chat records the attempt as abandoned
        await response.prepare(request)
        await response.write_eof()
        entry.delivered += 1
        entry.text, entry.finish_reason = text, finish_reason
        return response


def completion_body(text: str | None, finish_reason: str, body: dict[str, Any]) -> bytes:
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    words = len((text or "").split())
    return json.dumps({
        "id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "m"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_words, "completion_tokens": words, "total_tokens": prompt_words + words},
    }).encode("utf-8")


def error_json(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps({"error": {"message": message, "type": "server_error"}}),
                        content_type="application/json", headers=headers)


def drop(request: web.Request) -> None:
    """Close the connection without (finishing) an answer."""
    if request.transport is not None:
        request.transport.close()
