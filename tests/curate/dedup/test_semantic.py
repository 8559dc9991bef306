"""Semantic dedup: keep-first over cosine similarity, with WordLlama and with planted vectors."""

from __future__ import annotations

import numpy as np
import pytest

from synthloom.curate.dedup import SemanticDeduper
from synthloom.errors import ConfigError

TEXTS = [
    "The cat sat quietly on the warm mat by the fire.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "A cat was sitting quietly on the warm mat near the fire.",
    "How do I reverse a linked list in Python?",
    "The cat sat quietly on the warm mat by the fire!",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar in plant leaves.",
    "What is the best way to reverse a linked list using Python?",
    "The recipe needs two cups of flour, one egg and a pinch of salt.",
    "The football team won the championship after a dramatic penalty shootout.",
]


class VectorEmbedder:
    """Texts are keys of a table of vectors: similarities are known exactly."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return np.array([self.table[t] for t in texts], dtype=np.float32)


@pytest.fixture(scope="module")
def wordllama():
    from synthloom.corpus.embed import load_embedder

    return load_embedder()


def test_paraphrases_dropped_distinct_topics_kept(wordllama):
    result = SemanticDeduper(embedder=wordllama).dedup(iter(TEXTS))
    pairs = {(d.index, d.kept) for d in result.duplicates}
    assert pairs == {(2, 0), (4, 0), (6, 3)}
    assert result.clusters == 6 == len(TEXTS) - len(result.duplicates)
    assert all(0.92 <= d.similarity <= 1.0 for d in result.duplicates)
    assert SemanticDeduper(threshold=0.99, embedder=wordllama).dedup(TEXTS).clusters == 8


def test_default_embedder_is_wordllama():
    result = SemanticDeduper().dedup(TEXTS[:3])
    assert [(d.index, d.kept) for d in result.duplicates] == [(2, 0)]


def unit(angle_degrees: float) -> list[float]:
    angle = np.radians(angle_degrees)
    return [float(np.cos(angle)), float(np.sin(angle))]


def test_a_text_close_only_to_a_dropped_text_is_kept():
    # a→b 0.966 (dropped), b→c 0.966 but a→c 0.866: c stays, since its only close neighbour went
    table = {"a": unit(0), "b": unit(15), "c": unit(30), "d": unit(31)}
    result = SemanticDeduper(threshold=0.95, embedder=VectorEmbedder(table)).dedup(["a", "b", "c", "d"])
    assert [(d.index, d.kept) for d in result.duplicates] == [(1, 0), (3, 2)]
    assert result.duplicates[0].similarity == pytest.approx(np.cos(np.radians(15)), abs=1e-3)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_batches_and_blocks_do_not_change_the_result(batch_size):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 16))
    vectors = np.concatenate([base, base[rng.integers(0, 40, 30)] + rng.normal(scale=0.05, size=(30, 16))])
    table = {f"t{i}": v.tolist() for i, v in enumerate(vectors)}
    embedder = VectorEmbedder(table)
    result = SemanticDeduper(threshold=0.95, embedder=embedder, batch_size=batch_size, block_rows=7).dedup(table)
    reference = SemanticDeduper(threshold=0.95, embedder=VectorEmbedder(table), batch_size=1000).dedup(table)
    assert [(d.index, d.kept) for d in result.duplicates] == [(d.index, d.kept) for d in reference.duplicates]
    assert [d.similarity for d in result.duplicates] == pytest.approx([d.similarity for d in reference.duplicates], abs=1e-5)
    assert embedder.calls == -(-70 // batch_size)
    assert len(result.duplicates) >= 25 and all(d.index >= 40 and d.kept < 40 for d in result.duplicates)
    assert result.bytes_per_document() <= 16 * 2 + 8


def test_bad_threshold():
    with pytest.raises(ConfigError, match="threshold"):
        SemanticDeduper(threshold=1.2)
