"""Diversity metrics move in the documented direction on fixtures whose answer is known."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu

from synthloom.errors import ConfigError
from synthloom.metrics import diversity
from synthloom.metrics.diversity import compression_ratio, distinct_n, diversity_metrics, self_bleu, words

VARIED = [
    "The old lighthouse keeper counted ships every night from his tower.",
    "A tiny frog jumped into the pond and scared two sleepy ducks.",
    "Maria baked bread with her grandmother on a rainy Sunday.",
    "The rocket engine roared as the engineers watched the countdown.",
    "Nobody expected the quiet librarian to win the chess tournament.",
    "Heavy snow closed the mountain pass for three whole weeks.",
    "Tom lost his red kite when the wind snapped its string.",
    "Quantum computers use qubits that can hold superposed states.",
    "The farmer sold pumpkins, apples and honey at the Saturday market.",
    "A stray cat slept on the warm hood of the delivery van.",
    "Volcanic ash drifted across the ocean and delayed many flights.",
    "She painted the fence blue because her brother hated yellow.",
    "The orchestra tuned their violins before the evening concert began.",
    "Penguins huddle together to survive the Antarctic winter storms.",
    "My laptop battery died in the middle of the important meeting.",
    "The detective found a muddy boot print beneath the window.",
]
TEMPLATE = "Once upon a time there was a little {} who liked to play in the park with friends."
REPEATED = [TEMPLATE.format(animal) for animal in ["cat", "dog", "cat", "bird", "cat", "dog", "cat", "fish"] * 2]


def test_words_lowercases_and_keeps_contractions():
    assert words("Don't STOP, Tom's dog!") == ["don't", "stop", "tom's", "dog"]


def test_distinct_n_counts_unique_over_total():
    assert distinct_n([["a", "b", "a"], ["a", "b"]], 1) == pytest.approx(2 / 5)
    assert distinct_n([["a", "b", "a"], ["a", "b"]], 2) == pytest.approx(2 / 3)  # (a,b) (b,a) (a,b); never across texts
    assert distinct_n([["a"]], 2) is None


def test_self_bleu_equals_sacrebleu_sentence_bleu_average():
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 30))) + "." for _ in range(20)]
    texts += ["Hello, world!", "hello world", "hello world"]
    expected = np.mean([sacrebleu.sentence_bleu(t, texts[:i] + texts[i + 1:]).score for i, t in enumerate(texts)]) / 100
    assert self_bleu(texts) == pytest.approx(expected, rel=1e-9)
    assert 0 < expected < 1


def test_compression_ratio_is_lower_for_redundant_text():
    assert compression_ratio(REPEATED) < compression_ratio(VARIED)
    assert compression_ratio([]) is None


def test_repeated_texts_score_less_diverse_than_varied_ones(embedder):
    rep = diversity_metrics(REPEATED, embedder=embedder)
    var = diversity_metrics(VARIED, embedder=embedder)
    assert rep["n"] == var["n"] == 16
    for n in (1, 2, 3):
        assert 0 < rep[f"distinct_{n}"] < var[f"distinct_{n}"] <= 1
    assert rep["self_bleu"] > 0.8 > 0.2 > var["self_bleu"]
    assert rep["compression_ratio"] < var["compression_ratio"]
    assert rep["embedding_similarity"] > var["embedding_similarity"]
    assert rep["semantic_clusters"] < var["semantic_clusters"]
    assert rep["semantic_clusters"] <= 4  # four animals, one template
    assert var["semantic_clusters"] >= 12
    assert rep["mean_words"] == pytest.approx(len(words(REPEATED[0])))


def test_sample_caps_the_quadratic_metrics_and_is_seeded(embedder):
    texts = VARIED * 3
    a = diversity_metrics(texts, embedder=embedder, sample=10, seed=1)
    b = diversity_metrics(texts, embedder=embedder, sample=10, seed=1)
    c = diversity_metrics(texts, embedder=embedder, sample=10, seed=2)
    assert a["sample"] == 10 and a["n"] == 48
    assert a == b
    assert a["self_bleu"] != c["self_bleu"] or a["embedding_similarity"] != c["embedding_similarity"]


def test_embedding_metrics_are_none_without_the_corpus_extra(monkeypatch):
    def missing():
        raise ConfigError("corpus features need the `corpus` extra")

    monkeypatch.setattr("synthloom.corpus.embed.load_embedder", missing)
    result = diversity_metrics(VARIED)
    assert result["embedding_similarity"] is None and result["semantic_clusters"] is None
    assert result["distinct_1"] > 0 and result["self_bleu"] is not None


def test_empty_and_single_inputs_give_none_not_errors(embedder):
    empty = diversity_metrics([], embedder=embedder)
    assert empty["n"] == 0 and empty["distinct_1"] is None and empty["self_bleu"] is None
    one = diversity_metrics(["just one text here"], embedder=embedder)
    assert one["self_bleu"] is None and one["embedding_similarity"] is None and one["semantic_clusters"] == 1
    assert diversity.semantic_clusters(np.eye(3)) == 3
