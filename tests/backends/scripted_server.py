"""A loopback OpenAI-compatible server whose answers a test scripts, run in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

Answer = Callable[[dict], web.StreamResponse]


def completion(text: str, finish_reason: str = "stop") -> web.Response:
    body = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split())}, "model": "scripted"}
    return web.json_response(body)


@contextmanager
def scripted_server(answer: Callable[[dict, int], web.StreamResponse],
                    routes: dict[str, Callable[[dict], web.StreamResponse]] | None = None,
                    port: int = 0) -> Iterator[dict]:
    """Serve `answer(body, call_number)` on 127.0.0.1; yields {'url': base_url, 'calls': [...]}.
    `routes` adds more POST endpoints (path → answer(body)), e.g. a tokenizer; `port` 0 picks a
    free one. `state["kill"]()`, from any thread (an answer included), kills the server as a
    crash would: it stops listening and drops every open connection, answered or not."""
    state: dict = {"calls": [], "dead": False}
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state["calls"].append({"body": body, "auth": request.headers.get("Authorization")})
        result = answer(body, len(state["calls"]))
        return await result if asyncio.iscoroutine(result) else result

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "scripted"}]})

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/v1/models", models)
        for path, handler in (routes or {}).items():
            async def route(request: web.Request, handler=handler) -> web.StreamResponse:
                return handler(await request.json())
            app.router.add_post(path, route)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"
        state["runner"], state["site"] = runner, site
        ready.set()

    def kill_now() -> None:
        if state["dead"]:
            return
        state["dead"] = True
        state["site"]._server.close()
        for connection in state["runner"].server.connections:
            connection.force_close()

    async def kill_soon() -> None:
        kill_now()

    def kill() -> None:
        if threading.current_thread() is thread:
            kill_now()
        else:
            asyncio.run_coroutine_threadsafe(kill_soon(), loop).result(10)

    state["kill"] = kill
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    ready.wait(10)
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def json_error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps({"error": {"message": message}}),
                        content_type="application/json", headers=headers)
