"""Corpus diversity: distinct-n, self-BLEU, compression ratio, embedding similarity, semantic clusters."""

from __future__ import annotations

import gzip
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from ..errors import ConfigError

__all__ = ["diversity_metrics", "distinct_n", "self_bleu", "compression_ratio", "embedding_similarity",
           "semantic_clusters", "words", "CLUSTER_SIMILARITY"]

CLUSTER_SIMILARITY = 0.9
WORD = re.compile(r"\w+(?:['’]\w+)*")


def words(text: str) -> list[str]:
    """Lowercased word tokens (letters, digits, inner apostrophes)."""
    return WORD.findall(text.lower())


def distinct_n(tokenized: Sequence[Sequence[str]], n: int) -> float | None:
    """Unique n-grams / all n-grams over the whole set (n-grams never span two texts); None if there are none."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in tokenized:
        grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def self_bleu(texts: Sequence[str]) -> float | None:
    """Mean sacrebleu sentence BLEU (0–1) of each text against all the others as references.

    Equal to averaging `sacrebleu.sentence_bleu(t, others)`, but each text's n-grams are counted once
    and the best reference count comes from a top-two index, so 200 texts take well under a second
    instead of half a minute.
    """
    if len(texts) < 2:
        return None
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    metric = BLEU(effective_order=True)
    order = metric.max_ngram_order
    counted = [extract_all_word_ngrams(metric._preprocess_segment(t), 1, order) for t in texts]
    top2: dict[tuple, list[tuple[int, int]]] = defaultdict(list)  # n-gram → the two largest (count, text)
    for index, (grams, _) in enumerate(counted):
        for gram, count in grams.items():
            best = top2[gram]
            best.append((count, index))
            if len(best) > 2:
                best.sort(reverse=True)
                best.pop()
    lengths = [length for _, length in counted]
    scores = []
    for index, (grams, hyp_len) in enumerate(counted):
        correct, total = [0] * order, [0] * order
        for gram, count in grams.items():
            total[len(gram) - 1] += count
            ref = max((c for c, owner in top2[gram] if owner != index), default=0)
            correct[len(gram) - 1] += min(count, ref)
        ref_len = metric._get_closest_ref_len(hyp_len, lengths[:index] + lengths[index + 1:])
        bleu = BLEU.compute_bleu(correct, total, hyp_len, ref_len, smooth_method=metric.smooth_method,
                                 smooth_value=metric.smooth_value, effective_order=True)
        scores.append(bleu.score / 100)
    return sum(scores) / len(scores)


def compression_ratio(texts: Sequence[str]) -> float | None:
    """gzip size / raw size of the texts joined by newlines: higher means less redundant (more diverse)."""
    raw = "\n".join(texts).encode("utf-8")
    return len(gzip.compress(raw, mtime=0)) / len(raw) if raw else None


def embedding_similarity(vectors: np.ndarray) -> float | None:
    """Mean cosine over all pairs of distinct rows (rows unit length): higher means less diverse."""
    import numpy as np  # numpy only where vectors are: distinct-n and compression need none (a bare install)

    count = len(vectors)
    if count < 2:
        return None
    sims = vectors @ vectors.T
    return float((sims.sum() - np.trace(sims)) / (count * (count - 1)))


def semantic_clusters(vectors: np.ndarray, similarity: float = CLUSTER_SIMILARITY) -> int | None:
    """Clusters whose members average cosine ≥ `similarity` (average-linkage agglomerative): more means more diverse."""
    if len(vectors) == 0:
        return None
    if len(vectors) == 1:
        return 1
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=1.0 - similarity)
    return int(model.fit(vectors).n_clusters_)


def sample_texts(texts: Sequence[str], sample: int, seed: int) -> list[str]:
    """At most `sample` texts, chosen with a seeded RNG (all of them, in order, if there are fewer)."""
    if len(texts) <= sample:
        return list(texts)
    picked = sorted(random.Random(seed).sample(range(len(texts)), sample))
    return [texts[i] for i in picked]


def diversity_metrics(texts: list[str], *, embedder: Any = None, sample: int = 200, seed: int = 0) -> dict:
    """All diversity figures for a set of texts; see docs/report.md for each metric's direction.

    distinct-n and compression use every text; self-BLEU, embedding similarity and clusters use a
    seeded sample of at most `sample` texts (they are quadratic). `embedder` is anything with
    `embed(list[str]) -> ndarray` of unit rows; None loads the packaged WordLlama model, and the
    embedding figures are None when the `corpus` extra is not installed.
    """
    texts = [t for t in texts if isinstance(t, str)]
    tokenized = [words(t) for t in texts]
    picked = sample_texts(texts, sample, seed)
    result: dict[str, Any] = {
        "n": len(texts),
        "mean_words": sum(len(t) for t in tokenized) / len(tokenized) if texts else None,
        **{f"distinct_{n}": distinct_n(tokenized, n) for n in (1, 2, 3)},
        "compression_ratio": compression_ratio(texts),
        "sample": len(picked),
        "self_bleu": self_bleu(picked),
        "embedding_similarity": None,
        "semantic_clusters": None,
        "embedder": None,
    }
    if embedder is None and picked:
        try:
            from ..corpus.embed import load_embedder

            embedder = load_embedder()
        except (ConfigError, ImportError):
            return result
    if picked:
        import numpy as np

        vectors = np.asarray(embedder.embed(picked), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1, norms)
        result["embedding_similarity"] = embedding_similarity(vectors)
        result["semantic_clusters"] = semantic_clusters(vectors)
        result["embedder"] = getattr(embedder, "name", type(embedder).__name__)
    return result
