"""Dedup: exact (normalised hash), MinHash-LSH near-duplicates, semantic (embeddings); the first text of each group is kept."""

from __future__ import annotations

from .base import Deduper, DedupResult, Duplicate
from .exact import ExactDeduper, normalise_text
from .minhash import MinHashDeduper, lsh_params, shingles
from .options import ExactOptions, MinHashOptions, OptionError, SemanticOptions, check_options
from .semantic import SemanticDeduper

__all__ = [
    "DedupResult", "Deduper", "Duplicate", "ExactDeduper", "MinHashDeduper", "SemanticDeduper",
    "OptionError", "lsh_params", "make_deduper", "normalise_text", "shingles", "METHODS",
]

METHODS = ("exact", "minhash", "semantic")


def make_deduper(method: str, threshold: float | None = None, **options: object) -> Deduper:
    """The deduper for a method name; `threshold` is the method's default when None; `options` are
    checked (options.py): a bad one is an OptionError naming it."""
    from ...errors import ConfigError

    if method == "exact":
        if threshold is not None:
            raise ConfigError("threshold: exact dedup has no threshold (use minhash or semantic)")
        return ExactDeduper(**check_options(ExactOptions, options))
    if method == "minhash":
        minhash = check_options(MinHashOptions, options)
        return MinHashDeduper(**minhash) if threshold is None else MinHashDeduper(threshold=threshold, **minhash)
    if method == "semantic":
        semantic = check_options(SemanticOptions, options)
        return SemanticDeduper(**semantic) if threshold is None else SemanticDeduper(threshold=threshold, **semantic)
    raise ConfigError(f"unknown dedup method {method!r} (known: {', '.join(METHODS)})")
