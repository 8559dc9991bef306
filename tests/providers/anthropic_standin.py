"""A loopback stand-in for Anthropic's API as published: the Messages API (JSON and SSE
streaming, prompt caching with cache_control, extended thinking) and Message Batches (create,
retrieve, list, cancel, JSONL results). The official `anthropic` SDK works against it unchanged."""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .serve import KEY, Faults, Ledger, answer_text, cut_short, held, now, page, send_content, serve, words

MAX_REQUESTS = 100_000


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(block.get("text", "")) for block in content or [] if isinstance(block, dict))


def blocks_of(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


@dataclass
class AnthropicStandin:
    """The server's state: batches, the ledger, the faults; `base_url` is the SDK's base_url."""

    models: set[str] = field(default_factory=lambda: {"claude-haiku-4-5"})
    faults: Faults = field(default_factory=lambda: Faults(max_lines=MAX_REQUESTS, max_bytes=256 * 1024 * 1024))
    ledger: Ledger = field(default_factory=Ledger)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached_prefixes: set[str] = field(default_factory=set)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return self.url

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):06d}"

    def message(self, params: dict[str, Any], batch: bool, custom_id: str = "") -> dict[str, Any]:
        """A Message for `params`, with cache and thinking usage, billed to the ledger."""
        system, messages = blocks_of(params.get("system")), params.get("messages") or []
        blocks = system + [b for m in messages for b in blocks_of(m.get("content"))]
        total = sum(words(str(b.get("text", ""))) for b in blocks)
        marked = max((i for i, b in enumerate(blocks) if b.get("cache_control")), default=None)
        cache_read = cache_write = 0
        if marked is not None:
            prefix = " ".join(str(b.get("text", "")) for b in blocks[: marked + 1])
            digest = hashlib.sha256(prefix.encode()).hexdigest()
            if digest in self.cached_prefixes:
                cache_read = words(prefix)
            else:
                cache_write = words(prefix)
                self.cached_prefixes.add(digest)
        last = text_of(messages[-1].get("content")) if messages else ""
        text = answer_text(last, params.get("max_tokens"), json.dumps(params, sort_keys=True))
        content: list[dict[str, Any]] = []
        thinking = ""
        if (params.get("thinking") or {}).get("type") == "enabled":
            thinking = "The user asks about " + " ".join(last.split()[:8])
            content.append({"type": "thinking", "thinking": thinking, "signature": "sig" + hashlib.sha256(thinking.encode()).hexdigest()[:16]})
        content.append({"type": "text", "text": text})
        output = words(text) + words(thinking)
        stop = "max_tokens" if output >= params.get("max_tokens", 1 << 30) else "end_turn"
        usage = {"input_tokens": total - cache_read - cache_write, "output_tokens": output,
                 "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read,
                 "service_tier": "batch" if batch else "standard"}
        self.ledger.usage.append({"model": params["model"], "batch": batch, "prompt": total, "completion": output,
                                  "cached": cache_read, "cache_write": cache_write})
        if custom_id:
            self.ledger.billed[custom_id] += 1
        return {"id": self.new_id("msg_"), "type": "message", "role": "assistant", "model": params["model"],
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}

    def batch_object(self, batch: dict[str, Any]) -> dict[str, Any]:
        self.advance(batch)
        return {key: value for key, value in batch.items() if not key.startswith("_")}

    def advance(self, batch: dict[str, Any]) -> None:
        if batch["processing_status"] == "ended":
            return
        faults = self.faults
        if batch["processing_status"] == "canceling":
            self.finish(batch, "canceled", 0)
        elif faults.cancel:
            faults.cancel -= 1
            self.finish(batch, "canceled", faults.done_before_expiry)
        elif faults.expire:
            faults.expire -= 1
            self.finish(batch, "expired", faults.done_before_expiry)
        elif not faults.never_finish and now() >= batch["_created"] + faults.completion_seconds:
            self.finish(batch, None, None)

    def finish(self, batch: dict[str, Any], cut: str | None, done: int | None) -> None:
        """Answer the batch's requests (the first `done`, or all) and end it."""
        results, counts = [], dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        for number, item in enumerate(batch.pop("_requests")):
            custom_id, params = item["custom_id"], item["params"]
            if cut is not None and done is not None and number >= done:
                result: dict[str, Any] = {"type": cut}
            elif params.get("model") not in self.models:
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "not_found_error", "message": f"model: {params.get('model')}"}}}
            elif self.faults.failed_lines(custom_id):
                result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}}
            else:
                result = {"type": "succeeded", "message": self.message(params, True, custom_id)}
            counts["succeeded" if result["type"] == "succeeded" else result["type"]] += 1
            results.append({"custom_id": custom_id, "result": result})
        texts = [json.dumps(line) for line in results]
        cut_short(self.faults, texts)
        batch["_results"] = ("\n".join(texts) + "\n").encode()
        batch.update(processing_status="ended", request_counts=counts, ended_at=rfc3339(now()),
                     results_url=f"{self.url}/v1/messages/batches/{batch['id']}/results")


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_standin"},
                             status=status, headers=headers)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def make_app(state: AnthropicStandin) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        state.headers_seen.append({k.lower(): v for k, v in request.headers.items() if k.lower().startswith("anthropic")})
        # the docs name x-api-key; SDK 2.x sends the same key as a bearer token, which the API also takes
        if request.headers.get("x-api-key") != KEY and request.headers.get("Authorization") != f"Bearer {KEY}":
            return error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        return await handler(request)

    async def models(request: web.Request) -> web.Response:
        data = [{"type": "model", "id": m, "display_name": m, "created_at": rfc3339(0)} for m in sorted(state.models)]
        return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})

    async def messages(request: web.Request) -> web.StreamResponse:
        params = await request.json()
        state.ledger.online_requests += 1
        if state.faults.online:
            status, headers = state.faults.online.pop(0)
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            return error(status, kind, kind.replace("_", " "), headers)
        if "max_tokens" not in params:
            return error(400, "invalid_request_error", "max_tokens: Field required")
        if params.get("model") not in state.models:
            return error(404, "not_found_error", f"model: {params.get('model')}")
        message = state.message(params, False)
        if not params.get("stream"):
            return web.json_response(message)
        return await stream(request, message)

    async def stream(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        await response.write(sse("message_start", {"type": "message_start", "message": start}))
        await response.write(sse("ping", {"type": "ping"}))
        for index, block in enumerate(message["content"]):
            kind = block["type"]
            await response.write(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                             "content_block": {"type": kind, kind: ""} if kind == "text"
                                                             else {"type": kind, "thinking": "", "signature": ""}}))
            body = block["text" if kind == "text" else "thinking"]
            for part in [body[i:i + 12] for i in range(0, len(body), 12)]:
                delta = {"type": "text_delta", "text": part} if kind == "text" else {"type": "thinking_delta", "thinking": part}
                await response.write(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            if kind == "thinking":
                await response.write(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                                 "delta": {"type": "signature_delta", "signature": block["signature"]}}))
            await response.write(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        await response.write(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                                                                      "stop_sequence": None},
                                                   "usage": {"output_tokens": usage["output_tokens"]}}))
        await response.write(sse("message_stop", {"type": "message_stop"}))
        await response.write_eof()
        return response

    async def count_tokens(request: web.Request) -> web.Response:
        params = await request.json()
        blocks = blocks_of(params.get("system")) + [b for m in params.get("messages") or [] for b in blocks_of(m.get("content"))]
        return web.json_response({"input_tokens": sum(words(str(b.get("text", ""))) for b in blocks)})

    async def create_batch(request: web.Request) -> web.Response:
        raw = await request.read()
        await held(state.faults, "upload")
        if state.faults.upload_5xx > 0:
            state.faults.upload_5xx -= 1
            return error(500, "api_error", "Internal server error")
        if len(raw) > state.faults.max_bytes:
            return error(413, "request_too_large", f"Request exceeds the maximum size of {state.faults.max_bytes} bytes")
        requests = json.loads(raw).get("requests") or []
        if not requests or len(requests) > state.faults.max_lines:
            return error(400, "invalid_request_error", f"requests: between 1 and {state.faults.max_lines} items, got {len(requests)}")
        ids = [r.get("custom_id") for r in requests]
        if len(set(ids)) != len(ids):
            return error(400, "invalid_request_error", "requests: custom_id values must be unique within a batch")
        batch_id = state.new_id("msgbatch_")
        created = now()
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
                 "ended_at": None, "created_at": rfc3339(created), "expires_at": rfc3339(created + state.faults.window_seconds),
                 "archived_at": None, "cancel_initiated_at": None, "results_url": None,
                 "_created": created, "_requests": requests}
        for custom_id in ids:
            state.ledger.submissions[custom_id] += 1
        state.batches[batch_id] = batch
        state.ledger.batches_created += 1
        await held(state.faults, "create")
        return web.json_response(state.batch_object(batch))

    async def get_batch(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error(404, "not_found_error", "batch not found")
        return web.json_response(state.batch_object(batch))

    async def results(request: web.Request) -> web.StreamResponse:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error(404, "not_found_error", "batch not found")
        state.advance(batch)
        if batch["processing_status"] != "ended":
            return error(400, "invalid_request_error", "results are not available until the batch has ended")
        return await send_content(request, batch["_results"], state.faults, "application/binary")

    async def list_batches(request: web.Request) -> web.Response:
        ids, more = page(list(state.batches), request.query.get("after_id"), min(1000, int(request.query.get("limit", 20))))
        return web.json_response({"data": [state.batch_object(state.batches[b]) for b in ids], "has_more": more,
                                  "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})

    async def cancel_batch(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error(404, "not_found_error", "batch not found")
        if batch["processing_status"] == "in_progress":
            batch.update(processing_status="canceling", cancel_initiated_at=rfc3339(now()))
        return web.json_response(state.batch_object(batch))

    app = web.Application(middlewares=[auth], client_max_size=512 * 1024 * 1024)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_post("/v1/messages/batches", create_batch)
    app.router.add_get("/v1/messages/batches", list_batches)
    app.router.add_get("/v1/messages/batches/{batch_id}", get_batch)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", results)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", cancel_batch)
    return app


@contextmanager
def anthropic_standin(**settings: Any) -> Iterator[AnthropicStandin]:
    """Serve an AnthropicStandin on loopback for the duration of the block."""
    state = AnthropicStandin(**settings)
    with serve(make_app(state), state) as served:
        yield served
