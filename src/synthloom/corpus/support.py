"""Lexical grounding: how much of each answer sentence's content appears in its sources.

A cheap first filter before an LLM judge: a sentence is supported when at least `threshold`
of its content words (stemmed, stopwords removed) occur in the cited chunks. It cannot see
paraphrase or negation, which is why the judge follows; but an answer whose words mostly do
not occur in its sources is rejected without spending a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .chunking import split_sentences

__all__ = ["Support", "lexical_support", "content_words", "strip_citations", "CITATION"]

CITATION = re.compile(r"\[(?:sources?\s*)?(\d+(?:\s*[,;]\s*(?:sources?\s*)?\d+)*)\]", re.IGNORECASE)
WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Support:
    """The share of checkable sentences that are supported, and each sentence's own score."""

    fraction: float
    sentences: tuple[tuple[str, float], ...]

    def weakest(self) -> tuple[str, float] | None:
        return min(self.sentences, key=lambda s: s[1]) if self.sentences else None


@lru_cache(maxsize=1)
def vocabulary():
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    return Stemmer.Stemmer("english"), frozenset(STOPWORDS_EN)


def content_words(text: str) -> set[str]:
    """Stems of the words that carry content: no stopwords, no one-letter words; numbers kept."""
    stemmer, stop = vocabulary()
    words = [w for w in WORD.findall(text.lower()) if (len(w) > 1 or w.isdigit()) and w not in stop]
    return set(stemmer.stemWords(words))


def strip_citations(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", CITATION.sub("", text))


def lexical_support(answer: str, sources: list[str], threshold: float = 0.5, min_words: int = 2) -> Support:
    """Score each sentence with at least `min_words` content words against the sources' words."""
    known = set().union(*(content_words(s) for s in sources)) if sources else set()
    scored: list[tuple[str, float]] = []
    for sentence in split_sentences(strip_citations(answer)):
        words = content_words(sentence)
        if len(words) >= min_words:
            scored.append((sentence, len(words & known) / len(words)))
    if not scored:
        return Support(0.0, ())
    supported = sum(1 for _, score in scored if score >= threshold)
    return Support(supported / len(scored), tuple(scored))
