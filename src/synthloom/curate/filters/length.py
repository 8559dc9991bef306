"""Rejects texts outside a length range, in characters, words or tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ...record import Record, Rejected
from .base import Filter, FilterConfig

if TYPE_CHECKING:
    from ...corpus.embed import Embedder

__all__ = ["LengthFilter", "LengthConfig"]


class LengthConfig(FilterConfig):
    kind: str = "length"
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=1)
    min_tokens: int | None = Field(None, ge=0, description="Llama-2 tokenizer (from the corpus extra's WordLlama)")
    max_tokens: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def some_bound(self) -> LengthConfig:
        bounds = [self.min_chars, self.max_chars, self.min_words, self.max_words, self.min_tokens, self.max_tokens]
        if all(b is None for b in bounds):
            raise ValueError("give at least one of min_/max_ chars, words or tokens")
        return self


class LengthFilter(Filter):
    """`too_short` / `too_long`, with the measured length and the bound in the detail."""

    Config = LengthConfig
    config: LengthConfig

    def __init__(self, config: LengthConfig, context=None):
        super().__init__(config)
        self.counter: Embedder | None = None

    def check(self, text: str, record: Record) -> Rejected | None:
        c = self.config
        measures = {"chars": (lambda: len(text), c.min_chars, c.max_chars),
                    "words": (lambda: len(text.split()), c.min_words, c.max_words),
                    "tokens": (lambda: self.count_tokens(text), c.min_tokens, c.max_tokens)}
        for unit, (measure, low, high) in measures.items():
            if low is None and high is None:
                continue
            size = measure()
            if low is not None and size < low:
                return Rejected("too_short", f"{c.field}: {size} {unit} < {low}")
            if high is not None and size > high:
                return Rejected("too_long", f"{c.field}: {size} {unit} > {high}")
        return None

    def count_tokens(self, text: str) -> int:
        if self.counter is None:
            from ...corpus.embed import load_embedder

            self.counter = load_embedder()
        return self.counter.count(text)
