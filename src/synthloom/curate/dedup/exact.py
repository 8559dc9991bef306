"""Exact duplicates after normalisation, found by a 128-bit hash per text."""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from .base import DedupResult, Duplicate

__all__ = ["ExactDeduper", "normalise_text", "normal_words"]

HASH_BYTES = 16


@lru_cache(maxsize=1)
def punctuation_table() -> dict[int, str]:
    """Every punctuation and symbol character of the Basic Multilingual Plane, mapped to a space."""
    limit = min(sys.maxunicode, 0xFFFF)
    return {c: " " for c in range(limit + 1) if unicodedata.category(chr(c))[0] in "PS"}


def normalise_text(text: str, ignore_punctuation: bool = False, ignore_case: bool = True) -> str:
    """NFKC, casefolded, punctuation optionally removed, whitespace collapsed to single spaces."""
    return " ".join(normal_words(text, ignore_punctuation, ignore_case))


def normal_words(text: str, ignore_punctuation: bool = False, ignore_case: bool = True) -> list[str]:
    """The words of the normalised text."""
    text = unicodedata.normalize("NFKC", text)
    if ignore_case:
        text = text.casefold()
    if ignore_punctuation:
        text = text.translate(punctuation_table())
    return text.split()


class ExactDeduper:
    """Drops texts equal to an earlier one once normalised; keeps the first of each group."""

    method = "exact"

    def __init__(self, ignore_punctuation: bool = False, ignore_case: bool = True):
        self.ignore_punctuation = ignore_punctuation
        self.ignore_case = ignore_case

    def key(self, text: str) -> bytes:
        """The 16-byte hash two texts share exactly when they are duplicates (up to collisions)."""
        normal = normalise_text(text, self.ignore_punctuation, self.ignore_case)
        return hashlib.blake2b(normal.encode("utf-8"), digest_size=HASH_BYTES).digest()

    def dedup(self, texts: Iterable[str]) -> DedupResult:
        hashes = bytearray()  # 16 bytes a text: the only state kept while streaming
        for text in texts:
            hashes += self.key(text)
        total = len(hashes) // HASH_BYTES
        words = np.frombuffer(bytes(hashes), dtype=np.uint64).reshape(total, 2)
        order = np.lexsort((np.arange(total), words[:, 1], words[:, 0]))
        ordered = words[order]
        starts = np.ones(total, dtype=bool)
        starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
        first = order[np.maximum.accumulate(np.where(starts, np.arange(total), 0))]
        later = np.flatnonzero(first != order)
        duplicates = sorted((Duplicate(int(order[p]), int(first[p]), 1.0) for p in later), key=lambda d: d.index)
        return DedupResult(total, duplicates, total - len(duplicates), state_bytes=len(hashes))
