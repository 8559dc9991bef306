"""`grounding`: check an answer (or a conversation's answers) against the chunks it cites.

Two checks, cheapest first: lexical support (the share of answer sentences whose content
words occur in the cited chunks; below `min_supported` the record is rejected with the weakest
sentence named, and no call is made), then an LLM judge asked whether every claim is supported
("Score: N"), rejected below `threshold`. The judge may run on another backend (`params.backend`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backends.base import Request, Response
from ..corpus.support import lexical_support, strip_citations
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, chat, fingerprint_of
from .grounded import format_sources
from .judge import read_score

__all__ = ["GroundingStage", "GroundingConfig", "DEFAULT_GROUNDING_PROMPT"]

DEFAULT_GROUNDING_PROMPT = """Check whether an answer is supported by its sources.

Sources:
{{ sources }}

Answer:
{{ answer }}

Go through the answer claim by claim and say whether the sources state each claim. Then rate the answer:
5 = every claim is stated in the sources
4 = every claim is supported, with only harmless rewording
3 = some claims are not in the sources
2 = most claims are not in the sources
1 = the answer ignores or contradicts the sources
End with "Score: N"."""

LOCAL = frozenset({"sources", "answer"})


class GroundingConfig(BaseModel):
    """Recipe fields of a `grounding` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "grounding"
    name: str
    answer: str = Field("answer", description="the grounded_answer (or grounded conversation) output to check")
    sentence_threshold: float = Field(0.5, gt=0, le=1, description="share of a sentence's content words found in its sources")
    min_supported: float = Field(0.75, ge=0, le=1, description="share of sentences that must pass; 0 turns the lexical check off")
    judge: bool = Field(True, description="also ask an LLM judge whether every claim is supported")
    prompt: str = Field(DEFAULT_GROUNDING_PROMPT, description="judge template; sees `sources`, `answer` and the record")
    system: str | None = None
    scale: tuple[int, int] = (1, 5)
    threshold: float = Field(4, description="judge scores below this are rejected")
    repairs: int = Field(1, ge=0, le=5)
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name", "answer")(check_identifier)

    @model_validator(mode="after")
    def threshold_in_scale(self) -> GroundingConfig:
        low, high = self.scale
        if not low < high or not low <= self.threshold <= high:
            raise ValueError(f"threshold {self.threshold} must lie in the scale {list(self.scale)}")
        return self


class GroundingStage(StageBase):
    """Rejects answers their cited chunks do not support; records both scores."""

    Config = GroundingConfig
    uses_corpus = True
    figures = "grounding"

    def __init__(self, config: GroundingConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.corpus = context.corpus
        self.prompt = PromptTemplate(config.prompt)
        self.system = PromptTemplate(config.system) if config.system else None
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.outputs = (config.name, f"{config.name}_lexical", f"{config.name}_reasoning")
        own = (self.prompt.variables | (self.system.variables if self.system else frozenset())) - LOCAL
        self.inputs = own | {config.answer, f"{config.answer}_sources"}
        self.fingerprint = fingerprint_of(config.prompt, config.system, config.answer)

    def claims(self, record: Record) -> list[tuple[str, list[str]]]:
        """(answer text, chunk ids it is checked against) for the answer or each assistant turn."""
        answer = record.fields[self.config.answer]
        sources = record.fields.get(f"{self.config.answer}_sources") or []
        cited = record.fields.get(f"{self.config.answer}_citations")
        if isinstance(answer, list):  # a grounded conversation: one source list per assistant turn
            turns = [m["content"] for m in answer if m.get("role") == "assistant"]
            return [(text, ids) for text, ids in zip(turns, sources)]
        return [(str(answer), list(cited or sources))]

    def render(self, record: Record) -> Request | dict[str, Any] | Rejected:
        claims = self.claims(record)
        used: dict[str, Any] = {}
        lexical: list[float] = []
        for text, ids in claims:
            chunks = [self.corpus.get(i) for i in ids]
            if any(c is None for c in chunks):
                missing = [i for i, c in zip(ids, chunks) if c is None]
                return Rejected("missing_source", f"{self.name}: chunk {missing[0]} is not in the corpus (was it re-ingested?)")
            used.update((c.id, c) for c in chunks)
            support = lexical_support(text, [c.text for c in chunks], self.config.sentence_threshold)
            lexical.append(support.fraction)
            if self.config.min_supported and support.fraction < self.config.min_supported:
                weakest = support.weakest()
                why = (f"{support.fraction:.0%} of sentences supported (need {self.config.min_supported:.0%}); "
                       f"weakest: {weakest[0][:120]!r} ({weakest[1]:.0%} of its words in the sources)") if weakest \
                    else "no sentence with content to check"
                return Rejected("unsupported_lexical", f"{self.name}: {why}")
        score = min(lexical) if lexical else 0.0
        if not self.config.judge:
            return {self.outputs[0]: None, self.outputs[1]: round(score, 3), self.outputs[2]: None}
        answer = "\n\n".join(strip_citations(text) for text, _ in claims)
        values = record.variables() | {"sources": format_sources(list(used.values())), "answer": answer}
        messages = chat(self.prompt, self.system, values)
        record.state[self.name] = {"messages": messages, "repairs": 0, "reasoning": None, "lexical": round(score, 3)}
        return self.maker.request(messages, record)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        score = read_score(response, record, state, self.config.scale, self.config.repairs, self.maker)
        if isinstance(score, (Request, Rejected)):
            return score
        if score < self.config.threshold:
            return Rejected("unsupported_judge", f"{self.name}: judge scored {score}, below {self.config.threshold:g}: "
                            f"{state['reasoning'][-200:]!r}")
        return {self.outputs[0]: score, self.outputs[1]: state["lexical"], self.outputs[2]: state["reasoning"]}
