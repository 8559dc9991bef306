"""Start the review app on a run directory and serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import ConfigError
from . import handlers
from .server import STATE, ReviewApp, guard_for, index, new_token, static, write_review_summary

__all__ = ["serve", "start", "Started", "make_app"]


class Started:
    """A running review server: its URL, and how to stop it."""

    def __init__(self, runner: web.AppRunner, url: str, state: Any):
        self.runner, self.url, self.state = runner, url, state

    async def stop(self) -> None:
        await self.runner.cleanup()


def check_run(run: Path) -> None:
    """A run directory with a store; the store migrated to have the review tables."""
    from ..store import Store

    if not run.is_dir():
        raise ConfigError(f"{run}: no such run directory")
    if not (run / Store.FILENAME).is_file():
        raise ConfigError(f"{run / Store.FILENAME}: not found (is {run} a directory written by `synthloom run`?)")
    Store.open_dir(run).close()  # adds the review tables to an older store: one short write transaction


async def start(run: str | Path, host: str = "127.0.0.1", port: int = 0, reviewer: str | None = None,
                token: str | None = None, embedder: Any = None) -> Started:
    """Index the run and listen; the caller stops it with `await started.stop()`."""
    run = Path(run)
    check_run(run)
    state = ReviewApp(run, token or new_token(), reviewer, embedder)
    runner = web.AppRunner(make_app(state), access_log=None)  # an access log would write the token
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    bound = runner.addresses[0][1]
    state.allow(host, bound)
    shown = f"[{host}]" if ":" in host else host
    return Started(runner, f"http://{shown}:{bound}/?token={state.token}", state)


def make_app(state: ReviewApp) -> web.Application:
    """The aiohttp application: the page, its files, the API, all behind the guard."""
    app = web.Application(middlewares=[guard_for(state)], client_max_size=8 * 1024 * 1024)
    app[STATE] = state
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    handlers.add_routes(app)

    async def on_cleanup(_: web.Application) -> None:
        if state.summary_task is not None and not state.summary_task.done():
            state.summary_task.cancel()
            await asyncio.to_thread(write_review_summary, state.run)
        state.close()

    app.on_cleanup.append(on_cleanup)
    return app


def serve(run: str | Path, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          reviewer: str | None = None, opener: Callable[[str], Any] = webbrowser.open) -> None:
    """`synthloom review`: print the URL (and open it), serve until interrupted."""
    check_run(Path(run))  # a bad directory is one line, before anything else is printed

    async def main() -> None:
        print(f"synthloom: indexing {run} ...", file=sys.stderr, flush=True)
        started = await start(run, host, port, reviewer)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"synthloom: reviewing {started.state.catalog.count():,} records of {run} at {started.url}", flush=True)
        print("synthloom: Ctrl-C stops the server; every decision is already saved in the run store", file=sys.stderr, flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"synthloom: warning: listening on {host}: other machines can reach this page (the token still "
                  "guards it, over plain HTTP)", file=sys.stderr, flush=True)
        if open_browser:
            opener(started.url)
        try:
            await stop.wait()
        finally:
            await started.stop()

    asyncio.run(main())
