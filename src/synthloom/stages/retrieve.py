"""`retrieve`: search the corpus with a templated query; no LLM call.

Picks chunks by topic ("query: '{{ topic }}'"), or fetches fresh context for a follow-up
("query: '{{ answer }}'", excluding what the answer already used). With `pool` > k, the k
chunks are drawn from the top `pool` with the record's seed, for variety across records.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..recipe.model import check_identifier
from ..record import Record, Rejected
from ..sampling import derive_seed
from ..templates import PromptTemplate
from .base import StageBase, StageContext
from .common import fingerprint_of

__all__ = ["RetrieveStage", "RetrieveConfig", "render_ids"]


class RetrieveConfig(BaseModel):
    """Recipe fields of a `retrieve` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "retrieve"
    name: str
    query: str = Field(min_length=1, description="the search query (a template)")
    k: int = Field(1, ge=1, le=50, description="chunks to return; 1 gives one chunk, more give a list")
    pool: int | None = Field(None, ge=1, le=500, description="draw the k at random from this many top results")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    exclude: list[str] = Field(default_factory=list, description="templates giving chunk ids to leave out")

    _check_name = field_validator("name")(check_identifier)

    @model_validator(mode="after")
    def pool_holds_k(self) -> RetrieveConfig:
        if self.pool is not None and self.pool < self.k:
            raise ValueError(f"pool ({self.pool}) must be at least k ({self.k})")
        return self


def render_ids(templates: list[PromptTemplate], values: dict[str, Any]) -> list[str]:
    """Chunk ids from templates that each render to one or more ids (space/comma separated)."""
    ids: list[str] = []
    for template in templates:
        ids.extend(part for part in re.split(r"[\s,]+", template.render(values)) if part)
    return ids


class RetrieveStage(StageBase):
    """Adds the best-matching chunk (or chunks) for a query to the record."""

    Config = RetrieveConfig
    uses_corpus = True

    def __init__(self, config: RetrieveConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.corpus = context.corpus
        self.seed = context.seed
        self.query = PromptTemplate(config.query)
        self.exclude = [PromptTemplate(t) for t in config.exclude]
        self.outputs = (config.name,)
        self.inputs = self.query.variables.union(*(t.variables for t in self.exclude))
        self.fingerprint = fingerprint_of(config.query, *config.exclude)

    def render(self, record: Record) -> dict[str, Any] | Rejected:
        values = record.variables()
        query = self.query.render(values)
        wanted = self.config.pool or self.config.k
        hits = self.corpus.search(query, wanted, self.config.mode, exclude=render_ids(self.exclude, values))
        if not hits:
            return Rejected("no_context", f"{self.name}: nothing in the corpus matches {query[:80]!r}")
        if self.config.pool:
            rng = random.Random(derive_seed(self.seed, record.seed_basis, self.name))
            hits = sorted(rng.sample(hits, min(self.config.k, len(hits))), key=hits.index)
        items = [hit.chunk.as_item() for hit in hits[: self.config.k]]
        return {self.name: items[0] if self.config.k == 1 else items}

    def parse(self, response: Any, record: Record) -> Rejected:  # never called: render needs no LLM
        return Rejected("internal", f"{self.name} makes no LLM call")
