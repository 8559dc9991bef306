"""Anthropic's Message Batches: the requests posted in one body, polled, results read as JSONL.

A Message Batch carries no metadata, so a batch whose id a kill lost is found by listing the
batches created since it was recorded with as many requests; the match is certain only when its
results come back with exactly the custom_ids (our request keys) that were recorded for it.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from .anthropic_wire import error_for, parse_message
from .base import Request
from .batch_api import BatchResults, BatchStatus, Candidate, HttpCall, LineNotRun
from .fleet import display_url
from .openai_wire import body_text

__all__ = ["AnthropicBatches", "MAX_LINES", "MAX_BYTES"]

MAX_LINES = 100_000  # Anthropic's limits per Message Batch
MAX_BYTES = 256 * 1024 * 1024
LOOK_BACK = 600.0
STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403, "not_found_error": 404,
          "request_too_large": 413, "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}


def json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None


def seconds(stamp: str | None) -> float | None:
    """RFC 3339 → Unix time."""
    if not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class AnthropicBatches:
    """/v1/messages/batches under the backend's base URL, with its key and version headers."""

    tags_in_metadata = False

    def __init__(self, backend: Any, max_lines: int | None = None, max_bytes: int | None = None):
        self.backend = backend
        self.provider = f"anthropic {display_url(backend.base_url)}"
        self.max_lines = max_lines or MAX_LINES
        self.max_bytes = max_bytes or MAX_BYTES
        self.http = HttpCall(lambda: backend.open_session(), backend.base_url, lambda: backend.headers,
                             lambda status, raw, headers: error_for(status, backend.redact(body_text(raw, 300)),
                                                                    json_or_none(raw), headers.get("retry-after")),
                             backend.redact, backend.timeout)

    def line(self, custom_id: str, request: Request) -> bytes:
        return orjson.dumps({"custom_id": custom_id, "params": self.backend.params(request)})

    def framing(self, lines: int) -> int:
        return len(b'{"requests":[]}') + max(0, lines - 1)  # the envelope and the commas

    async def submit(self, tag: str, lines: list[bytes]) -> str:
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        created = await self.http.json("POST", "/v1/messages/batches", data=body)
        return str(created["id"])

    async def status(self, batch_id: str) -> BatchStatus:
        return status_of(await self.http.json("GET", f"/v1/messages/batches/{batch_id}"))

    async def results(self, batch_id: str, status: BatchStatus) -> BatchResults:
        raw = await self.http.bytes("GET", f"/v1/messages/batches/{batch_id}/results")
        results = BatchResults()
        for text in raw.splitlines():
            if text.strip():
                read_line(text, results)
        return results

    async def find(self, tag: str, since: float, lines: int, known: set[str]) -> list[Candidate]:
        found: list[tuple[float, Candidate]] = []
        after = None
        while True:
            page = await self.http.json("GET", "/v1/messages/batches", params={"limit": "100", **({"after_id": after} if after else {})})
            for batch in page.get("data") or []:
                created = seconds(batch.get("created_at")) or 0.0
                if created < since - LOOK_BACK:
                    return closest_first(found)
                if batch["id"] not in known and sum((batch.get("request_counts") or {}).values()) == lines:
                    found.append((abs(created - since), Candidate(str(batch["id"]), certain=False)))
            if not page.get("has_more") or not page.get("data"):
                return closest_first(found)
            after = page.get("last_id") or page["data"][-1]["id"]


def closest_first(found: list[tuple[float, Candidate]]) -> list[Candidate]:
    """Candidates by how close their creation is to when the batch was recorded (it was created right after)."""
    return [candidate for _, candidate in sorted(found, key=lambda pair: pair[0])]


def status_of(data: dict[str, Any]) -> BatchStatus:
    counts = data.get("request_counts") or {}
    done = int(counts.get("succeeded") or 0)
    failed = sum(int(counts.get(k) or 0) for k in ("errored", "canceled", "expired"))
    return BatchStatus(status=str(data.get("processing_status")), ended=data.get("processing_status") == "ended",
                       total=done + failed + int(counts.get("processing") or 0), done=done, failed=failed,
                       expires_at=seconds(data.get("expires_at")))


def read_line(text: bytes, results: BatchResults) -> None:
    try:
        line = orjson.loads(text)
        custom_id, result = line["custom_id"], line["result"]
        kind = result["type"]
    except (ValueError, KeyError, TypeError):
        results.malformed.append(text[:80].decode("utf-8", "replace"))
        return
    if kind == "succeeded":
        try:
            results.answers[custom_id] = parse_message(result.get("message"))
        except Exception as exc:  # noqa: BLE001 - a BadResponse: the line is unreadable, not the batch
            results.errors[custom_id] = LineNotRun(f"unreadable answer: {exc}")
        return
    if kind == "errored":
        error = (result.get("error") or {})
        nested = error.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else error
        status = STATUS.get(str(inner.get("type")), 500)
        results.errors[custom_id] = error_for(status, f"{inner.get('type')}: {inner.get('message', '')}", {"error": inner})
        return
    results.errors[custom_id] = LineNotRun(f"{kind}: the batch ended before this request ran")
