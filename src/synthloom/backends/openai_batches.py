"""OpenAI's Batch API (and the OpenAI-shaped batch endpoints of other providers): a JSONL file
uploaded with purpose=batch, a batch created on it with our tag as metadata, polled, and its
output and error files of custom_id lines read back."""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp
import orjson

from .base import BackendError, Request
from .batch_api import BatchResults, BatchStatus, Candidate, HttpCall, LineNotRun, NotCreated
from .openai_wire import parse_completion, status_error

__all__ = ["OpenAIBatches", "MAX_LINES", "MAX_BYTES"]

MAX_LINES = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 200 * 1024 * 1024
ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "expired", "cancelled", "failed"}
LOOK_BACK = 600.0  # seconds before a batch was recorded that a provider's clock may differ by


class OpenAIHost(Protocol):
    """What the batch endpoints use of OpenAIBackend (named by shape: importing it would close a circle)."""

    base_url: str
    timeout: float

    def session(self) -> aiohttp.ClientSession: ...

    def headers(self) -> dict[str, str]: ...

    def redact(self, text: str) -> str: ...

    def redact_bytes(self, raw: bytes) -> bytes: ...

    def body(self, request: Request) -> bytes: ...


class OpenAIBatches:
    """The Files and Batches endpoints under the backend's (first) base URL, with its key."""

    tags_in_metadata = True

    def __init__(self, backend: OpenAIHost, completion_window: str = "24h", max_lines: int | None = None,
                 max_bytes: int | None = None):
        self.backend = backend
        self.base_url = backend.base_url
        self.provider = f"openai {backend.base_url}"
        self.completion_window = completion_window
        self.max_lines = max_lines or MAX_LINES
        self.max_bytes = max_bytes or MAX_BYTES
        self.http = HttpCall(backend.session, backend.base_url, backend.headers,
                             lambda status, raw, headers: status_error(status, backend.redact_bytes(raw), headers.get("Retry-After")),
                             backend.redact, backend.timeout)

    def line(self, custom_id: str, request: Request) -> bytes:
        body = self.backend.body(request)
        return b'{"custom_id":' + orjson.dumps(custom_id) + b',"method":"POST","url":"' + ENDPOINT.encode() + b'","body":' + body + b"}"

    def framing(self, lines: int) -> int:
        return lines  # a newline each

    async def submit(self, tag: str, lines: list[bytes]) -> str:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"\n".join(lines) + b"\n", filename=f"{tag}.jsonl", content_type="application/jsonl")
        try:
            uploaded = await self.http.json("POST", "/files", data=form)
        except BackendError as exc:
            raise NotCreated(exc) from None
        created = await self.http.json("POST", "/batches", data=orjson.dumps({
            "input_file_id": uploaded["id"], "endpoint": ENDPOINT, "completion_window": self.completion_window,
            "metadata": {"synthloom_tag": tag}}))
        return str(created["id"])

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self.http.json("GET", f"/batches/{batch_id}")
        return status_of(data)

    async def results(self, batch_id: str, status: BatchStatus) -> BatchResults:
        data = await self.http.json("GET", f"/batches/{batch_id}")
        results = BatchResults()
        for name in ("output_file_id", "error_file_id"):
            if data.get(name):
                raw = await self.http.bytes("GET", f"/files/{data[name]}/content")
                for text in raw.splitlines():
                    if text.strip():
                        read_line(text, results)
        return results

    async def find(self, tag: str, since: float, lines: int, known: set[str]) -> list[Candidate]:
        after: str | None = None
        while True:
            page = await self.http.json("GET", "/batches", params={"limit": "100", **({"after": after} if after else {})})
            for batch in page.get("data") or []:
                if (batch.get("metadata") or {}).get("synthloom_tag") == tag:
                    return [Candidate(str(batch["id"]), certain=True)]
                if (batch.get("created_at") or 0) < since - LOOK_BACK:
                    return []
            if not page.get("has_more") or not page.get("data"):
                return []
            after = page.get("last_id") or page["data"][-1]["id"]


def status_of(data: dict[str, Any]) -> BatchStatus:
    counts = data.get("request_counts") or {}
    refused = None
    if data.get("status") == "failed":
        errors = (data.get("errors") or {}).get("data") or [{}]
        first = errors[0]
        refused = f"{first.get('code') or 'failed'}: {first.get('message') or 'the provider refused the batch'}" + (
            f" (line {first['line']})" if first.get("line") else "")
    return BatchStatus(status=str(data.get("status")), ended=data.get("status") in ENDED,
                       total=int(counts.get("total") or 0), done=int(counts.get("completed") or 0),
                       failed=int(counts.get("failed") or 0), expires_at=data.get("expires_at"), refused=refused)


def read_line(text: bytes, results: BatchResults) -> None:
    """One output or error file line into `results`; an unreadable one is kept aside."""
    try:
        line = orjson.loads(text)
        custom_id = line["custom_id"]
    except (ValueError, KeyError, TypeError):
        results.malformed.append(text[:80].decode("utf-8", "replace"))
        return
    response, error = line.get("response"), line.get("error")
    if isinstance(response, dict) and response.get("status_code") == 200:
        try:
            results.answers[custom_id] = parse_completion(orjson.dumps(response.get("body")))
        except BackendError as exc:
            results.errors[custom_id] = exc
        return
    if isinstance(response, dict) and response.get("status_code"):
        results.errors[custom_id] = status_error(int(response["status_code"]), orjson.dumps(response.get("body")), None)
        return
    code = (error or {}).get("code") if isinstance(error, dict) else None
    results.errors[custom_id] = LineNotRun(f"{code or 'not run'}: {(error or {}).get('message', '') if isinstance(error, dict) else ''}")
