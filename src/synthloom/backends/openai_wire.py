"""The wire format of OpenAI-compatible servers: parsing a chat completion, typing an error
answer, describing a failed connection. Shared by the online backend and the Batch API client."""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

import aiohttp
import orjson

from .base import (
    AuthFailed,
    BackendError,
    BadRequest,
    BadResponse,
    ContextTooLong,
    RateLimited,
    Response,
    ServerError,
    Usage,
)

HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
CONTEXT_WORDS = ("context length", "context_length", "maximum context", "context window", "too many tokens")


def secret_forms(api_key: str | None, credentials: list[tuple[str | None, str | None]]) -> list[str]:
    """The key and each URL's password, raw, URL-encoded and (as Basic auth sends it) base64; longest first."""
    forms = set()
    if api_key:
        forms |= {api_key, urllib.parse.quote(api_key, safe=""), base64.b64encode(api_key.encode()).decode()}
    for user, password in credentials:
        pair = f"{user or ''}:{password or ''}"
        forms |= {pair, base64.b64encode(pair.encode()).decode()}
        if password:
            forms |= {password, urllib.parse.quote(password, safe="")}
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def cut_off_detail(exc: aiohttp.ClientPayloadError) -> str:
    """What aiohttp says about a short body, without its internal "400" status."""
    cause = exc.__cause__
    return str(getattr(cause, "message", "") or "") or describe(exc)


def status_error(status: int, raw: bytes, retry_after: str | None) -> BackendError:
    """Map an HTTP error status to the typed error the runner retries by."""
    message = f"HTTP {status}: {body_text(raw, 300)}"
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(retry_after))
    if status in (401, 403):
        return AuthFailed(message)
    if "response_format" in message:  # llama_cpp.server reports a refused response_format as a 500
        return BadRequest(message)
    if status == 408 or status >= 500:
        return ServerError(message)
    if any(word in message.lower() for word in CONTEXT_WORDS):
        return ContextTooLong(message)
    return BadRequest(message)


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def parse_completion(raw: bytes) -> Response:
    """A chat.completion body → Response; anything else is BadResponse (retryable: a body cut
    short or a proxy's error page says nothing about what the next attempt will get).

    A completion whose content is null (a reasoning model that spent max_tokens before its
    answer, a refusal field instead of text) is a delivered, billed answer with no text: it
    becomes "" so the stage rejects it once, instead of the runner paying for it again.
    """
    try:
        data = orjson.loads(raw)
    except ValueError as exc:
        if raw.lstrip()[:1] in (b"{", b"["):
            what = f"JSON cut short or malformed ({len(raw)} bytes; {describe(exc)})"
        else:
            what = f"not JSON ({len(raw)} bytes)"
        raise BadResponse(f"not a chat completion, {what}: {body_text(raw, 160)}") from None
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content")  # absent or null: no text (see above)
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BadResponse(f"not a chat completion: {body_text(raw, 200)}") from None
    if text is None:
        text = ""
    elif not isinstance(text, str):
        raise BadResponse(f"message content is {type(text).__name__}, not text")
    return Response(
        text=text,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        usage=usage_of(data.get("usage")),
        model=str(data.get("model") or ""),
        reasoning=reasoning_of(choice["message"]),
    )


def usage_of(usage: Any) -> Usage:
    """A chat completion's usage, with the prompt tokens OpenAI read from its cache."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens")), cached)


def reasoning_of(message: dict[str, Any]) -> str | None:
    """The reasoning trace beside the answer: `reasoning_content` (vLLM, SGLang, DeepSeek) or
    `reasoning` (OpenRouter); None when the server sent none."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def token_count(value: Any) -> int:
    """A usage figure as the server gave it; 0 if it is not a number (a bad figure is not a bad answer)."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def body_text(raw: bytes, limit: int) -> str:
    """A server's body for a one-line error message: an HTML page (a proxy's) by its title,
    anything else by its first `limit` bytes with the line breaks (of a traceback) folded."""
    if not raw.strip():
        return "(empty body)"
    title = HTML_TITLE.search(raw[:4096]) if raw.lstrip()[:1] == b"<" else None
    if title is not None and title.group(1).strip():
        return f"an HTML page titled {one_line(title.group(1)[:200].decode('utf-8', 'replace'))!r}"
    return one_line(raw[:limit].decode("utf-8", "replace"))


def one_line(text: str) -> str:
    return " ".join(text.split())
