"""Meaning kept: rejects a rewrite whose embedding is too far from the text it rewrote.

Cosine similarity of WordLlama embeddings (shipped in its wheel, the `corpus` extra) between
the field and `to` (a template, e.g. "{{ ticket.text }}"); below `min` the record is rejected
as `meaning_changed`. The similarity is kept in the record as `<name>_similarity`, so the
floor can be tuned on a run's own figures (docs/recipes.md shows how it was measured).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...record import Record, Rejected
from ...templates import PromptTemplate
from .base import Filter, FilterConfig

__all__ = ["SimilarityFilter", "SimilarityConfig"]


class SimilarityConfig(FilterConfig):
    kind: str = "similarity"
    to: str = Field(min_length=1, description="template of the text to compare with, e.g. '{{ ticket.text }}'")
    min: float = Field(0.6, ge=-1, le=1, description="lowest cosine similarity kept")


class SimilarityFilter(Filter):
    """`meaning_changed` below the floor; the similarity added to kept records."""

    Config = SimilarityConfig

    config: SimilarityConfig

    def __init__(self, config: SimilarityConfig, context: Any = None):
        super().__init__(config)
        self.reference = PromptTemplate(config.to)
        self.inputs = frozenset({config.field}) | self.reference.variables
        self.outputs = (f"{config.name}_similarity",)
        self.embedder: Any = None

    def render(self, record: Record) -> dict[str, Any] | Rejected:
        from .base import text_of

        score = self.similarity(text_of(record, self.config.field), self.reference.render(record.variables()))
        if score < self.config.min:
            return Rejected("meaning_changed", f"{self.config.field}: similarity {score:.3f} < {self.config.min}",
                            {self.outputs[0]: score})
        return {self.outputs[0]: score}

    def check(self, text: str, record: Record) -> Rejected | None:  # render does the work (it adds a field)
        return None

    def similarity(self, a: str, b: str) -> float:
        import numpy as np

        if self.embedder is None:
            from ...corpus.embed import load_embedder

            self.embedder = load_embedder()
        vectors = np.asarray(self.embedder.embed([a, b]), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return round(float(vectors[0] @ vectors[1]), 4)
