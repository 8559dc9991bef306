"""A loopback stand-in for OpenAI's API as published: chat completions, Files (purpose=batch)
and Batches (create, retrieve, list with after/limit, cancel; output and error files of
custom_id lines). The official `openai` SDK works against it unchanged (test_standins_sdk.py)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .serve import KEY, Faults, Ledger, answer_text, cut_short, held, now, page, send_content, serve, words

ENDPOINT = "/v1/chat/completions"


@dataclass
class OpenAIStandin:
    """The server's state: files, batches, the ledger, the faults; `base_url` is what a client uses."""

    models: set[str] = field(default_factory=lambda: {"gpt-4o-mini"})
    batch_models: set[str] | None = None  # None: every model in `models`
    faults: Faults = field(default_factory=Faults)
    ledger: Ledger = field(default_factory=Ledger)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_prefixes: set[str] = field(default_factory=set)
    url: str = ""
    ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):06d}"

    def completion(self, body: dict[str, Any], batch: bool, custom_id: str = "") -> dict[str, Any]:
        """A chat.completion for `body`, billed to the ledger."""
        messages = body.get("messages") or []
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        text = answer_text(str(messages[-1].get("content", "")) if messages else "", body.get("max_tokens"),
                           json.dumps(body, sort_keys=True))
        cached = 0
        if messages and messages[0].get("role") == "system":
            prefix = hashlib.sha256(str(messages[0]["content"]).encode()).hexdigest()
            cached = words(str(messages[0]["content"])) if prefix in self.seen_prefixes else 0
            self.seen_prefixes.add(prefix)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        reasoning = ""
        if body.get("reasoning_effort"):
            reasoning = "First I read the request: " + " ".join(prompt.split()[:8])
            message["reasoning_content"] = reasoning
        max_tokens = body.get("max_tokens")
        completion_tokens = words(text) + words(reasoning)
        usage = {"prompt_tokens": words(prompt), "completion_tokens": completion_tokens,
                 "total_tokens": words(prompt) + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": words(reasoning)}}
        self.ledger.usage.append({"model": body["model"], "batch": batch, "prompt": usage["prompt_tokens"],
                                  "completion": completion_tokens, "cached": cached, "cache_write": 0})
        if custom_id:
            self.ledger.billed[custom_id] += 1
        finish = "length" if max_tokens and completion_tokens >= max_tokens else "stop"
        return {"id": self.new_id("chatcmpl-"), "object": "chat.completion", "created": now(), "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage, "system_fingerprint": "fp_standin"}

    def batch_object(self, batch: dict[str, Any]) -> dict[str, Any]:
        self.advance(batch)
        return {key: value for key, value in batch.items() if not key.startswith("_")}

    def advance(self, batch: dict[str, Any]) -> None:
        """Move a batch on by the clock: validating → in_progress → finished (lazily, on read)."""
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        if batch["status"] == "validating":
            batch["status"], batch["in_progress_at"] = "in_progress", now()
        faults = self.faults
        if batch["status"] == "cancelling":
            self.finish(batch, "cancelled", 0)
        elif faults.cancel:
            faults.cancel -= 1
            self.finish(batch, "cancelled", faults.done_before_expiry)
        elif faults.expire:
            faults.expire -= 1
            self.finish(batch, "expired", faults.done_before_expiry)
        elif not faults.never_finish and now() >= batch["created_at"] + faults.completion_seconds:
            self.finish(batch, "completed", None)

    def finish(self, batch: dict[str, Any], status: str, done: int | None) -> None:
        """Answer the batch's lines (the first `done` of them, or all), write its output and error files."""
        lines = batch.pop("_lines")
        output, errors = [], []
        for number, line in enumerate(lines):
            custom_id = line["custom_id"]
            if done is not None and number >= done:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append({"id": self.new_id("batch_req_"), "custom_id": custom_id, "response": None,
                               "error": {"code": code, "message": f"This request was not executed ({code})."}})
            elif self.faults.failed_lines(custom_id):
                errors.append({"id": self.new_id("batch_req_"), "custom_id": custom_id, "error": None,
                               "response": {"status_code": 500, "request_id": self.new_id("req_"),
                                            "body": {"error": {"message": "The server had an error", "type": "server_error",
                                                               "param": None, "code": None}}}})
            else:
                output.append({"id": self.new_id("batch_req_"), "custom_id": custom_id, "error": None,
                               "response": {"status_code": 200, "request_id": self.new_id("req_"),
                                            "body": self.completion(line["body"], True, custom_id)}})
        texts = [json.dumps(line) for line in output]
        cut_short(self.faults, texts)
        if texts:
            batch["output_file_id"] = self.add_file("\n".join(texts) + "\n", "batch_output")
        if errors:
            batch["error_file_id"] = self.add_file("\n".join(json.dumps(e) for e in errors) + "\n", "batch_output")
        batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        batch["status"] = status
        batch[{"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[status]] = now()

    def add_file(self, content: str, purpose: str, filename: str = "output.jsonl") -> str:
        file_id = self.new_id("file-")
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content.encode()), "created_at": now(),
                               "filename": filename, "purpose": purpose, "status": "processed", "_content": content.encode()}
        return file_id


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status)


def make_app(state: OpenAIStandin) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return error(401, "Incorrect API key provided.", code="invalid_api_key")
        return await handler(request)

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "standin"}
                                                             for m in sorted(state.models)]})

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        state.ledger.online_requests += 1
        if state.faults.online:
            status, headers = state.faults.online.pop(0)
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
                                     status=status, headers=headers)
        if body.get("model") not in state.models:
            return error(404, f"The model `{body.get('model')}` does not exist.", code="model_not_found")
        return web.json_response(state.completion(body, False))

    async def upload(request: web.Request) -> web.Response:
        await held(state.faults, "upload")
        form = await request.post()
        if state.faults.upload_5xx > 0:
            state.faults.upload_5xx -= 1
            return error(500, "The server had an error while processing your request.", "server_error")
        if form.get("purpose") != "batch" or "file" not in form:
            return error(400, "purpose must be 'batch' and a file is required")
        content = form["file"].file.read()
        if len(content) > state.faults.max_bytes:
            return error(400, f"File is too large ({len(content)} bytes; the limit is {state.faults.max_bytes}).")
        file_id = state.add_file(content.decode(), "batch", form["file"].filename)
        return web.json_response({k: v for k, v in state.files[file_id].items() if not k.startswith("_")})

    async def file_info(request: web.Request) -> web.Response:
        meta = state.files.get(request.match_info["file_id"])
        if meta is None:
            return error(404, "No such File object", code="not_found")
        return web.json_response({k: v for k, v in meta.items() if not k.startswith("_")})

    async def file_content(request: web.Request) -> web.StreamResponse:
        meta = state.files.get(request.match_info["file_id"])
        if meta is None:
            return error(404, "No such File object", code="not_found")
        return await send_content(request, meta["_content"], state.faults, "application/octet-stream")

    async def create_batch(request: web.Request) -> web.Response:
        body = await request.json()
        source = state.files.get(body.get("input_file_id", ""))
        if source is None:
            return error(400, "input_file_id is not an uploaded file")
        if body.get("endpoint") != ENDPOINT or body.get("completion_window") != "24h":
            return error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        lines = [json.loads(text) for text in source["_content"].decode().splitlines() if text.strip()]
        batch_id = state.new_id("batch_")
        batch = {"id": batch_id, "object": "batch", "endpoint": ENDPOINT, "errors": None,
                 "input_file_id": source["id"], "completion_window": "24h", "status": "validating",
                 "output_file_id": None, "error_file_id": None, "created_at": now(), "in_progress_at": None,
                 "expires_at": now() + state.faults.window_seconds, "finalizing_at": None, "completed_at": None, "failed_at": None,
                 "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "metadata": body.get("metadata"), "_lines": lines}
        served = state.batch_models if state.batch_models is not None else state.models
        problem = next(((i, f"The model `{line['body'].get('model')}` is not supported by the Batch API.")
                        for i, line in enumerate(lines, 1) if line.get("body", {}).get("model") not in served), None)
        if len(lines) > state.faults.max_lines:
            problem = (None, f"The batch input file has {len(lines)} requests; the limit is {state.faults.max_lines}.")
        if problem is not None:
            batch.pop("_lines")
            batch.update(status="failed", failed_at=now(), errors={"object": "list", "data": [
                {"code": "invalid_request", "message": problem[1], "param": "body.model", "line": problem[0]}]})
        else:
            for line in lines:
                state.ledger.submissions[line["custom_id"]] += 1
        state.batches[batch_id] = batch
        state.ledger.batches_created += 1
        await held(state.faults, "create")  # created, but the answer waits: a kill lands before the id is saved
        return web.json_response(state.batch_object(batch))

    async def get_batch(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error(404, "No batch found", code="not_found")
        return web.json_response(state.batch_object(batch))

    async def list_batches(request: web.Request) -> web.Response:
        ids, more = page(list(state.batches), request.query.get("after"), min(100, int(request.query.get("limit", 20))))
        return web.json_response({"object": "list", "data": [state.batch_object(state.batches[b]) for b in ids],
                                  "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None, "has_more": more})

    async def cancel_batch(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error(404, "No batch found", code="not_found")
        if batch["status"] in ("validating", "in_progress"):
            batch["status"], batch["cancelling_at"] = "cancelling", now()
        return web.json_response(state.batch_object(batch))

    app = web.Application(middlewares=[auth], client_max_size=512 * 1024 * 1024)
    app.router.add_get("/v1/models", models)
    app.router.add_post(ENDPOINT, chat)
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}", file_info)
    app.router.add_get("/v1/files/{file_id}/content", file_content)
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{batch_id}", get_batch)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel_batch)
    return app


@contextmanager
def openai_standin(**settings: Any) -> Iterator[OpenAIStandin]:
    """Serve an OpenAIStandin on loopback for the duration of the block."""
    state = OpenAIStandin(**settings)
    with serve(make_app(state), state) as served:
        yield served
