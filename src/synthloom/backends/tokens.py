"""Counting tokens: the backend's own tokenizer where it has one, else an approximation."""

from __future__ import annotations

import math

from .base import BackendBase, Request

__all__ = ["approx_tokens", "prompt_tokens", "text_tokens", "reserve_prompt_tokens", "CHAT_OVERHEAD"]

CHAT_OVERHEAD = (4, 3)  # tokens a chat template adds per message, and to start the reply (OpenAI's rule of thumb)


def approx_tokens(text: str) -> int:
    """About 4 characters of English per token (BPE tokenizers of current LLMs)."""
    return math.ceil(len(text) / 4)


def approx_prompt_tokens(request: Request) -> int:
    per_message, reply = CHAT_OVERHEAD
    return sum(approx_tokens(m["content"]) + per_message for m in request.messages) + reply


async def prompt_tokens(backend: BackendBase | None, request: Request) -> tuple[int, bool]:
    """(tokens of the request's prompt as the backend bills them, whether that count is exact)."""
    count = await backend.count_prompt_tokens(request) if backend is not None else None
    if count is not None:
        return int(count), backend is not None and backend.exact_token_counts
    return approx_prompt_tokens(request), False


async def text_tokens(backend: BackendBase | None, text: str) -> int:
    """Tokens of a completion's text, by the backend's tokenizer or the approximation."""
    count = await backend.count_text_tokens(text) if backend is not None else None
    return int(count) if count is not None else approx_tokens(text)


def reserve_prompt_tokens(request: Request) -> int:
    """A cheap upper estimate of a prompt's tokens, for the budget to hold back before sending:
    3 characters per token (English runs at about 4), plus the chat overhead."""
    per_message, reply = CHAT_OVERHEAD
    return sum(math.ceil(len(m["content"]) / 3) + per_message for m in request.messages) + reply
