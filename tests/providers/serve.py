"""What the provider stand-ins share: a thread to serve an aiohttp app on loopback, the
deterministic answers, the bill, per-custom_id submission counts, and the faults a test injects."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KEY = "sk-test-standin-key"


@dataclass
class Faults:
    """What a test makes the stand-in do wrong; change the fields while it serves."""

    failed_lines: Callable[[str], bool] = lambda custom_id: False  # these lines answer 500 in the batch
    malformed_lines: int = 0  # the next this many output lines are cut short
    upload_5xx: int = 0  # the next this many uploads (OpenAI) / creates (Anthropic) answer 500
    online: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) to answer next, online
    expire: int = 0  # the next this many batches end as expired, with `done_before_expiry` of their lines done
    cancel: int = 0  # the next this many batches are cancelled (by someone else) after `done_before_expiry` lines
    done_before_expiry: int = 0
    never_finish: bool = False  # batches stay in progress past their expiry
    window_seconds: int = 86400  # a batch's expires_at: its creation plus this
    completion_seconds: float = 0.0  # how long a batch takes to finish
    hold: dict[str, threading.Event] = field(default_factory=dict)  # phase → released when set: upload, create, content
    held: dict[str, threading.Event] = field(default_factory=dict)  # phase → set when a request waits there
    max_lines: int = 50_000
    max_bytes: int = 200 * 1024 * 1024


@dataclass
class Ledger:
    """What the provider saw and billed."""

    submissions: Counter = field(default_factory=Counter)  # custom_id → lines submitted in batches
    billed: Counter = field(default_factory=Counter)  # custom_id → lines that succeeded (and were paid for)
    usage: list[dict[str, Any]] = field(default_factory=list)  # per paid answer: model, batch, token counts
    online_requests: int = 0
    batches_created: int = 0

    def bill(self, prices: dict[str, dict[str, float]]) -> float:
        """Dollars at `prices` {model: {input, output, cached_input, cache_write}} ($/1M), batch lines at half."""
        total = 0.0
        for u in self.usage:
            p = prices[u["model"]]
            fresh = u["prompt"] - u["cached"] - u["cache_write"]
            dollars = (fresh * p["input"] + u["cached"] * p.get("cached_input", p["input"])
                       + u["cache_write"] * p.get("cache_write", p["input"]) + u["completion"] * p["output"]) / 1e6
            total += dollars / 2 if u["batch"] else dollars
        return total


def once(custom_ids: set[str]) -> Callable[[str], bool]:
    """A failed_lines fault that fails each of these lines the first time only."""
    left = set(custom_ids)

    def failing(custom_id: str) -> bool:
        if custom_id in left:
            left.discard(custom_id)
            return True
        return False

    return failing


def cut_short(faults: Faults, texts: list[str]) -> None:
    """The next `faults.malformed_lines` of these output lines, cut in half."""
    cut = min(faults.malformed_lines, len(texts))
    faults.malformed_lines -= cut
    for i in range(cut):
        texts[i] = texts[i][: len(texts[i]) // 2]


def answer_text(prompt: str, max_tokens: int | None, seed: str) -> str:
    """The deterministic answer to a prompt: a tag of the request, then its words."""
    words = prompt.split()[: max(1, (max_tokens or 64) - 1)]
    return f"[standin {hashlib.sha256(seed.encode()).hexdigest()[:8]}] " + " ".join(words)


def words(text: str) -> int:
    return len(text.split())


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def wait_if_held(faults: Faults, phase: str) -> None:
    """Block this request (in a worker thread) while the test holds `phase`."""
    gate = faults.hold.get(phase)
    if gate is not None:
        faults.held.setdefault(phase, threading.Event()).set()
        gate.wait(120)


async def held(faults: Faults, phase: str) -> None:
    if faults.hold.get(phase) is not None:
        await asyncio.to_thread(wait_if_held, faults, phase)


async def send_content(request: web.Request, content: bytes, faults: Faults, content_type: str) -> web.StreamResponse:
    """A file's bytes; while the test holds `content`, half of them and then a wait (a kill lands mid-download)."""
    if faults.hold.get("content") is None:
        return web.Response(body=content, content_type=content_type)
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(content)
    await response.prepare(request)
    await response.write(content[: len(content) // 2])
    await held(faults, "content")
    await response.write(content[len(content) // 2:])
    return response


def page(ids: list[str], after: str | None, limit: int) -> tuple[list[str], bool]:
    """A page of ids, newest first, after the id `after`: (the page, whether more follow)."""
    newest_first = sorted(ids, reverse=True)
    if after in newest_first:
        newest_first = newest_first[newest_first.index(after) + 1:]
    return newest_first[:limit], len(newest_first) > limit


def now() -> int:
    return int(time.time())


@contextmanager
def serve(app: web.Application, state: Any) -> Iterator[Any]:
    """Serve `app` on 127.0.0.1 in a thread; `state.url` is its root (http://127.0.0.1:PORT)."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        holder["runner"] = runner
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not ready.wait(10):
        raise RuntimeError("the stand-in did not start")
    try:
        yield state
    finally:
        for gate in state.faults.hold.values():
            gate.set()
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
