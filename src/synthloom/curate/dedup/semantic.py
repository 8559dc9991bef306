"""Semantic duplicates: texts whose embeddings are within a cosine threshold of an earlier kept text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from ...corpus.embed import load_embedder
from ...errors import ConfigError
from .base import DedupResult, Duplicate, batched, check_threshold

__all__ = ["SemanticDeduper", "TextEmbedder"]


class TextEmbedder(Protocol):
    """Anything with `embed(texts) -> (n, dim) array`; synthloom.corpus.embed.Embedder is one."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class SemanticDeduper:
    """Keep-first over cosine similarity: a text is dropped if a kept earlier text is at least `threshold` close.

    Only the kept texts' embeddings are held (float16, 512 bytes each for WordLlama's 256
    dimensions), and each new batch is compared exactly against all of them, block by block.
    """

    method = "semantic"

    def __init__(self, threshold: float = 0.92, embedder: TextEmbedder | None = None, batch_size: int = 512,
                 block_rows: int = 16384):
        self.threshold = check_threshold(threshold)
        if batch_size < 1 or block_rows < 1:
            raise ConfigError("batch_size and block_rows must be at least 1")
        self.embedder, self.batch_size, self.block_rows = embedder, batch_size, block_rows

    def load(self) -> TextEmbedder:
        """The given embedder, or the WordLlama model shipped in its wheel (the `corpus` extra)."""
        if self.embedder is None:
            self.embedder = load_embedder()
        return self.embedder

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings rounded to float16, returned as float32 so every comparison sees the same values."""
        raw = np.asarray(self.load().embed(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
        return unit.astype(np.float16).astype(np.float32)

    def dedup(self, texts: Iterable[str]) -> DedupResult:
        blocks: list[np.ndarray] = []  # kept embeddings, float16, in blocks of at most block_rows
        kept_ids: list[np.ndarray] = []
        duplicates: list[Duplicate] = []
        total = 0
        for batch in batched(texts, self.batch_size):
            vectors = self.vectors(batch)
            best, partner = self.nearest_kept(vectors, blocks, kept_ids)
            within = vectors @ vectors.T
            keep = np.zeros(len(batch), dtype=bool)
            for r in range(len(batch)):
                if best[r] >= self.threshold:
                    duplicates.append(Duplicate(total + r, int(partner[r]), round(float(best[r]), 6)))
                    continue
                keep[r] = True
                closer = within[r + 1:, r] > best[r + 1:]
                best[r + 1:][closer] = within[r + 1:, r][closer]
                partner[r + 1:][closer] = total + r
            self.store(vectors[keep], np.flatnonzero(keep) + total, blocks, kept_ids)
            total += len(batch)
        held = sum(b.nbytes for b in blocks) + sum(k.nbytes for k in kept_ids)
        return DedupResult(total, duplicates, total - len(duplicates), state_bytes=held)

    def nearest_kept(self, vectors: np.ndarray, blocks: list[np.ndarray], kept_ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """For each vector, the highest cosine to a kept text and that text's index (ties: the earliest)."""
        best = np.full(len(vectors), -np.inf, dtype=np.float32)
        partner = np.full(len(vectors), -1, dtype=np.int64)
        for block, ids in zip(blocks, kept_ids):
            sims = vectors @ block.astype(np.float32).T
            column = sims.argmax(axis=1)
            top = sims[np.arange(len(vectors)), column]
            closer = top > best
            best[closer], partner[closer] = top[closer], ids[column[closer]]
        return best, partner

    def store(self, vectors: np.ndarray, ids: np.ndarray, blocks: list[np.ndarray], kept_ids: list[np.ndarray]) -> None:
        """Append kept vectors, filling the last block up to block_rows before starting a new one."""
        while len(vectors):
            if blocks and len(blocks[-1]) < self.block_rows:
                room = self.block_rows - len(blocks[-1])
                blocks[-1] = np.concatenate([blocks[-1], vectors[:room].astype(np.float16)])
                kept_ids[-1] = np.concatenate([kept_ids[-1], ids[:room]])
            else:
                room = self.block_rows
                blocks.append(vectors[:room].astype(np.float16))
                kept_ids.append(ids[:room].astype(np.int64))
            vectors, ids = vectors[room:], ids[room:]
