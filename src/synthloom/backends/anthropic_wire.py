"""The wire format of Anthropic's Messages API: a message into a Response, an error answer into a
typed error. Shared by the online backend and the Message Batches client."""

from __future__ import annotations

from typing import Any

from .base import AuthFailed, BackendError, BadRequest, BadResponse, ContextTooLong, RateLimited, Response, ServerError, Usage
from .openai_wire import parse_retry_after, token_count

__all__ = ["error_for", "parse_message", "usage_of", "FINISH"]

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
          "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
CONTEXT_WORDS = ("prompt is too long", "too many tokens", "context window", "context length")


def error_for(status: int, text: str, data: Any, retry_after: str | None = None) -> BackendError:
    """An HTTP error (or an SSE error event, status 0) → the typed error the runner retries by."""
    error = data.get("error") if isinstance(data, dict) else None
    kind = error.get("type", "") if isinstance(error, dict) else ""
    message = f"HTTP {status}: {text}" if status else f"{kind}: {text}"
    if status == 429 or kind == "rate_limit_error" or status == 529 or kind == "overloaded_error":
        return RateLimited(message, retry_after=parse_retry_after(retry_after))
    if status in (401, 403) or kind in ("authentication_error", "permission_error"):
        return AuthFailed(message)
    if status >= 500 or status == 408 or kind in ("api_error", "timeout_error"):
        return ServerError(message)
    if any(word in message.lower() for word in CONTEXT_WORDS):
        return ContextTooLong(message)
    if status == 0:
        return BadResponse(message)
    return BadRequest(message)


def parse_message(data: Any) -> Response:
    """A Message → Response: text blocks joined, thinking blocks kept as the reasoning."""
    try:
        blocks = data["content"]
        texts = [b["text"] for b in blocks if b.get("type") == "text"]
        thoughts = [b.get("thinking") or "" for b in blocks if b.get("type") == "thinking"]
    except (KeyError, TypeError, AttributeError):
        raise BadResponse(f"not a message: {str(data)[:200]}") from None
    return Response(text="".join(texts), finish_reason=FINISH.get(str(data.get("stop_reason")), "stop"),
                    usage=usage_of(data.get("usage")), model=str(data.get("model") or ""),
                    reasoning="\n\n".join(thoughts) if thoughts else None)


def usage_of(usage: Any) -> Usage:
    """Anthropic's input_tokens leave out the cached parts: the prompt is all three together."""
    usage = usage if isinstance(usage, dict) else {}
    read, written = token_count(usage.get("cache_read_input_tokens")), token_count(usage.get("cache_creation_input_tokens"))
    return Usage(token_count(usage.get("input_tokens")) + read + written, token_count(usage.get("output_tokens")), read, written)
