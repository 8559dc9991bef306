"""Hybrid search over a corpus: BM25 (bm25s) and dense cosine (WordLlama), fused by rank.

Reciprocal rank fusion (Cormack et al., 2009) needs no score calibration between the two:
each list contributes 1 / (60 + rank). Ties are broken by chunk order, so a search is a pure
function of (corpus, query) and a rerun of a recipe retrieves the same context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .chunking import Chunk
from .embed import Embedder

__all__ = ["Hit", "CorpusIndex", "SearchMode", "build_bm25", "RRF_K"]

SearchMode = Literal["hybrid", "bm25", "dense"]
RRF_K = 60
CANDIDATES = 100


@dataclass(frozen=True)
class Hit:
    """One search result: the chunk, its fused score, and its rank in each list (0 = absent)."""

    chunk: Chunk
    score: float
    bm25_rank: int = 0
    dense_rank: int = 0


def bm25_tokenizer():
    import bm25s
    import Stemmer

    return bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))


def build_bm25(texts: Sequence[str]):
    """A bm25s retriever and its tokenizer over `texts`."""
    import bm25s

    tokenizer = bm25_tokenizer()
    tokens = tokenizer.tokenize(list(texts), show_progress=False, return_as="tuple")
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    return retriever, tokenizer


# What a bm25s tokenizer learns from the corpus (what its save_vocab/save_stopwords write).
TOKENIZER_STATE = ("word_to_stem", "stem_to_sid", "word_to_id", "stopwords")


def restore_index(chunks: list[Chunk], embeddings: np.ndarray, retriever, vocab: dict, embedder: Embedder | None,
                  fingerprint: str) -> CorpusIndex:
    """A CorpusIndex from what its `__reduce__` sent."""
    from .embed import load_embedder

    tokenizer = bm25_tokenizer()
    for name, value in vocab.items():
        setattr(tokenizer, name, value)
    return CorpusIndex(chunks, embeddings, retriever, tokenizer, embedder or load_embedder(), fingerprint)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first, ties by index."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


class CorpusIndex:
    """Chunks with their BM25 index and embeddings; `search` is what stages call."""

    def __init__(self, chunks: list[Chunk], embeddings: np.ndarray, retriever, tokenizer, embedder: Embedder,
                 fingerprint: str = ""):
        self.chunks = chunks
        self.embeddings = embeddings
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.fingerprint = fingerprint
        self.by_id = {chunk.id: i for i, chunk in enumerate(chunks)}

    def __len__(self) -> int:
        return len(self.chunks)

    def __reduce__(self) -> tuple:
        """Pickled for a Ray worker, which may not see the corpus directory: chunks, embeddings
        and the BM25 index travel; the tokenizer (its stemmer is a C object) is rebuilt from its
        vocabulary, and the packaged embedder is loaded on the worker rather than shipped."""
        vocab = {name: getattr(self.tokenizer, name) for name in TOKENIZER_STATE}
        embedder = None if type(self.embedder) is Embedder else self.embedder
        return restore_index, (self.chunks, self.embeddings, self.retriever, vocab, embedder, self.fingerprint)

    def get(self, chunk_id: str) -> Chunk | None:
        i = self.by_id.get(chunk_id)
        return None if i is None else self.chunks[i]

    def bm25_scores(self, query: str) -> np.ndarray:
        ids = self.tokenizer.tokenize([query], update_vocab=False, show_progress=False)[0]
        if not ids:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(ids), dtype=np.float32)

    def dense_scores(self, query: str) -> np.ndarray:
        return self.embeddings @ self.embedder.embed([query])[0]

    def search(self, query: str, k: int = 5, mode: SearchMode = "hybrid", exclude: Iterable[str] = ()) -> list[Hit]:
        """The k best chunks for `query`, skipping the ids in `exclude`."""
        skip = {self.by_id[c] for c in exclude if c in self.by_id}
        want = k + len(skip)
        ranks: dict[str, dict[int, int]] = {}
        if mode in ("hybrid", "bm25"):
            scores = self.bm25_scores(query)
            ranks["bm25"] = {int(i): r for r, i in enumerate(top(scores, max(want, CANDIDATES)), 1) if scores[i] > 0}
        if mode in ("hybrid", "dense"):
            scores = self.dense_scores(query)
            ranks["dense"] = {int(i): r for r, i in enumerate(top(scores, max(want, CANDIDATES)), 1)}
        fused: dict[int, float] = {}
        for ranking in ranks.values():
            for i, rank in ranking.items():
                if i not in skip:
                    fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Hit(self.chunks[i], score, ranks.get("bm25", {}).get(i, 0), ranks.get("dense", {}).get(i, 0))
                for i, score in best]

    def context(self, include: list[str], query: str, k: int, mode: SearchMode = "hybrid") -> list[Chunk]:
        """The chunks named in `include` (unknown ids skipped, no repeats), then the best search
        results for `query`: `k` in all. What a grounded stage puts in its prompt."""
        chunks = list({c.id: c for c in (self.get(i) for i in include) if c is not None}.values())[:k]
        if len(chunks) < k:
            chunks += [hit.chunk for hit in self.search(query, k - len(chunks), mode, exclude=[c.id for c in chunks])]
        return chunks
