"""The review app's HTTP side (aiohttp.web): the page, its two static files, the JSON API, and
the guard every request passes.

Security: the server binds to 127.0.0.1 unless told otherwise; every request carries the random
token (the `?token=` of the URL for the page and its files, the X-Review-Token header for the
API); a request that changes data must use the header (which a page on another site cannot send
without a CORS preflight this server never answers), JSON, and, when the browser says where it
comes from (Origin, Sec-Fetch-Site), this server's own origin. The Host header must name this
server (DNS rebinding). No cookies, so there is no ambient credential to ride on. Records are
LLM output: the page only ever sets them as text, and the Content-Security-Policy allows no
inline script at all.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from .catalog import Catalog
from .decisions import DecisionLog

__all__ = ["ReviewApp", "HEADERS", "new_token", "STATE", "guard_for", "index", "static", "error", "write_review_summary"]

STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's URL holds the token
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SAFE = ("GET", "HEAD")
SUMMARY_DELAY = 1.0  # seconds of quiet before run.json's review section is rewritten


def new_token() -> str:
    return secrets.token_urlsafe(24)


class ReviewApp:
    """What the handlers share: the run, its catalog, the decision log, the token, the origins allowed."""

    def __init__(self, run: Path, token: str, reviewer: str | None = None, embedder: Any = None):
        from .origins import Embeddings

        self.run, self.token, self.reviewer = Path(run), token, reviewer
        self.catalog = Catalog(self.run)
        self.log = DecisionLog(self.run / "store.sqlite")
        self.embeddings = Embeddings(self.run, self.catalog.schema.text_fields, embedder)
        self.write_lock = asyncio.Lock()
        self.hosts: set[str] = set()
        self.summary_task: asyncio.Task | None = None

    def allow(self, host: str, port: int) -> None:
        """The Host/Origin values that name this server once it listens on host:port."""
        if host in ("0.0.0.0", "::", ""):  # every interface: the machine's names are many; the token still guards
            self.hosts = set()
            return
        names = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
        if ":" in host:
            names = {f"[{host.strip('[]')}]"}
        self.hosts = {f"{name}:{port}" for name in names}

    def close(self) -> None:
        self.catalog.close()
        self.log.close()

    def schedule_summary(self) -> None:
        """Rewrite run.json's `review` soon (once a burst of decisions is over)."""
        if self.summary_task is not None:
            self.summary_task.cancel()
        self.summary_task = asyncio.get_running_loop().create_task(self.write_summary_later())

    async def write_summary_later(self) -> None:
        await asyncio.sleep(SUMMARY_DELAY)
        await asyncio.to_thread(write_review_summary, self.run)


STATE: web.AppKey[ReviewApp] = web.AppKey("state", ReviewApp)


def write_review_summary(run: Path) -> bool:
    """Put the decisions' summary into run.json, unless a run holds the directory (it writes
    run.json itself when it finishes, review section included). True if written."""
    from ..errors import ConfigError
    from ..store import RunLock
    from .overlay import review_summary

    info = run / "run.json"
    if not info.is_file():
        return False
    try:
        with RunLock(run):
            summary = json.loads(info.read_text(encoding="utf-8"))
            summary["review"] = review_summary(run, summary.get("schema"))
            if summary["review"] is None:
                summary.pop("review")
            temp = info.with_name(f".run.json.review-{os.getpid()}")
            temp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            os.replace(temp, info)
    except (ConfigError, OSError, ValueError):
        return False
    return True


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def guard_for(state: ReviewApp) -> Callable:
    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        response: web.StreamResponse | None = refuse(request, state)
        if response is None:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = error(exc.status, exc.reason or "error")
        response.headers.update(HEADERS)
        return response

    return guard


def refuse(request: web.Request, state: ReviewApp) -> web.Response | None:
    """The reason to turn a request away, as a response; None to let it through."""
    hosts = state.hosts or {request.host}
    if request.headers.get("Host") not in hosts:
        return error(421, "unknown Host (this server only answers to its own address)")
    header = request.headers.get("X-Review-Token")
    given = header if header is not None else (request.query.get("token") if request.method in SAFE else None)
    if not given:
        return error(401, "missing token: open the URL `synthloom review` printed")
    if not hmac.compare_digest(given.encode(), state.token.encode()):
        return error(403, "wrong token")
    if request.method in SAFE:
        return None
    origin = request.headers.get("Origin")
    if origin is not None and origin.removeprefix("http://") not in hosts:
        return error(403, "cross-origin request refused")
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
        return error(403, "cross-site request refused")
    if request.content_type != "application/json":
        return error(415, "send JSON")
    return None


async def index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
    # the token is URL-safe base64: nothing in it can leave the attribute
    return web.Response(text=page.replace("{{TOKEN}}", state.token), content_type="text/html", charset="utf-8")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    text = resources.files(__package__).joinpath(f"static/{name}").read_text(encoding="utf-8")
    return web.Response(text=text, content_type=STATIC[name], charset="utf-8")
