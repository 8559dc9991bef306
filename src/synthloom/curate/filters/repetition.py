"""Rejects degenerate, looping text: repeated n-grams, or text that compresses too well.

Small models at high temperature loop ("and the cat and the cat and the cat"); both
measures catch it (Gopher's repetition rules use the first; the second needs no tokens).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from pydantic import Field

from ...record import Record, Rejected
from .base import Filter, FilterConfig

__all__ = ["RepetitionFilter", "RepetitionConfig", "duplicate_ngram_fraction", "compression_ratio"]

WORD = re.compile(r"\w+", re.UNICODE)


class RepetitionConfig(FilterConfig):
    kind: str = "repetition"
    ngram: int = Field(3, ge=1, le=10)
    max_duplicate_fraction: float | None = Field(0.3, gt=0, le=1, description="words inside n-grams seen more than once")
    min_compression_ratio: float | None = Field(None, gt=0, le=1, description="zlib size / raw size; lower = more repetitive")


def duplicate_ngram_fraction(text: str, n: int) -> float:
    """The fraction of words covered by word n-grams that occur more than once."""
    words = WORD.findall(text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(words)


def compression_ratio(text: str) -> float:
    """zlib-compressed size / raw size (UTF-8); near 1 for varied text, low for loops."""
    raw = text.encode("utf-8")
    return len(zlib.compress(raw, 9)) / len(raw) if raw else 1.0


class RepetitionFilter(Filter):
    """`repetitive_ngrams` or `compressible`, with the measured value in the detail."""

    Config = RepetitionConfig
    config: RepetitionConfig

    def check(self, text: str, record: Record) -> Rejected | None:
        c = self.config
        if c.max_duplicate_fraction is not None:
            fraction = duplicate_ngram_fraction(text, c.ngram)
            if fraction > c.max_duplicate_fraction:
                return Rejected("repetitive_ngrams", f"{c.field}: {fraction:.0%} of words in repeated {c.ngram}-grams "
                                f"(max {c.max_duplicate_fraction:.0%})")
        if c.min_compression_ratio is not None and len(text) >= 200:  # short texts barely compress
            ratio = compression_ratio(text)
            if ratio < c.min_compression_ratio:
                return Rejected("compressible", f"{c.field}: compression ratio {ratio:.2f} < {c.min_compression_ratio}")
        return None
