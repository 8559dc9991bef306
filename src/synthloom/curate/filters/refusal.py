"""Rejects refusals and assistant boilerplate ("As an AI language model, I cannot...")."""

from __future__ import annotations

import re

from pydantic import Field

from ...record import Record, Rejected
from .base import Filter, FilterConfig

__all__ = ["RefusalFilter", "RefusalConfig", "REFUSAL_PHRASES"]

REFUSAL_PHRASES = (
    r"as an ai\b", r"as a(?:n ai)? language model", r"i(?:'m| am) (?:just )?an ai\b", r"i(?:'m| am) not able to",
    r"i (?:cannot|can't|can not|won't|will not) (?:help|assist|provide|comply|fulfil|fulfill|create|write|do that)",
    r"i(?:'m| am) (?:sorry|afraid),? but i (?:cannot|can't|won't)", r"i apologi[sz]e,? but",
    r"(?:it is|it's) not appropriate (?:for me )?to", r"against my (?:programming|guidelines)",
    r"i do not have (?:personal )?(?:opinions|feelings|the ability)", r"my knowledge cutoff",
)


class RefusalConfig(FilterConfig):
    kind: str = "refusal"
    phrases: list[str] = Field(default_factory=list, description="more regexes that mark a refusal (case-insensitive)")
    head_chars: int | None = Field(None, ge=1, description="look only at the start of the text (refusals open the reply)")


class RefusalFilter(Filter):
    """`refusal`, with the phrase found in the detail."""

    Config = RefusalConfig
    config: RefusalConfig

    def __init__(self, config: RefusalConfig, context=None):
        super().__init__(config)
        self.pattern = re.compile("|".join(f"(?:{p})" for p in (*REFUSAL_PHRASES, *config.phrases)), re.IGNORECASE)

    def check(self, text: str, record: Record) -> Rejected | None:
        head = text[: self.config.head_chars] if self.config.head_chars else text
        match = self.pattern.search(head.replace("\u2019", "'"))
        return Rejected("refusal", f"{self.config.field}: {match.group(0)!r}") if match else None
