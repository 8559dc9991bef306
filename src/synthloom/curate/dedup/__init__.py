"""Dedup: exact (normalised hash), MinHash-LSH near-duplicates, semantic (embeddings); the first text of each group is kept."""

from __future__ import annotations

from .base import Deduper, DedupResult, Duplicate
from .exact import ExactDeduper, normalise_text
from .minhash import MinHashDeduper, lsh_params, shingles
from .semantic import SemanticDeduper

__all__ = [
    "DedupResult", "Deduper", "Duplicate", "ExactDeduper", "MinHashDeduper", "SemanticDeduper",
    "lsh_params", "make_deduper", "normalise_text", "shingles", "METHODS",
]

METHODS = ("exact", "minhash", "semantic")


def make_deduper(method: str, threshold: float | None = None, **options) -> Deduper:
    """The deduper for a method name; `threshold` is the method's default when None."""
    from ...errors import ConfigError

    if method == "exact":
        if threshold is not None:
            raise ConfigError("threshold: exact dedup has no threshold (use minhash or semantic)")
        return ExactDeduper(**options)
    if method == "minhash":
        return MinHashDeduper(**options) if threshold is None else MinHashDeduper(threshold=threshold, **options)
    if method == "semantic":
        return SemanticDeduper(**options) if threshold is None else SemanticDeduper(threshold=threshold, **options)
    raise ConfigError(f"unknown dedup method {method!r} (known: {', '.join(METHODS)})")
