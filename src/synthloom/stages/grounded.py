"""`grounded_answer`: answer a question from retrieved chunks, citing them as [n].

The context is the chunks named by `include` (e.g. the chunk the question was written from)
followed by the best search results for the query, numbered [1]..[k] in the prompt. The
answer keeps its [n] markers (a model trained on it learns to cite); the record also gets the
chunk ids behind them, so every claim can be traced to a document and position.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Request, Response
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, chat, fingerprint_of
from .retrieve import render_ids

__all__ = ["GroundedAnswerStage", "GroundedAnswerConfig", "format_sources", "cited_numbers", "attribute_citations",
           "DEFAULT_ANSWER_PROMPT"]

DEFAULT_ANSWER_PROMPT = """Answer the question using only the sources below. After every sentence, cite the source it comes from by its number in brackets, like [1]. If the sources do not contain the answer, say that they do not.

Sources:
{{ sources }}

Question: {{ question }}"""

LOCAL = frozenset({"sources", "question"})


def format_sources(chunks: list[Any]) -> str:
    """Numbered context: "[1] Title > Section" then the chunk text, one blank line apart."""
    parts = []
    for n, chunk in enumerate(chunks, 1):
        heading = " > ".join(p for p in (chunk.title, chunk.section) if p)
        parts.append(f"[{n}] {heading}\n{chunk.text}" if heading else f"[{n}] {chunk.text}")
    return "\n\n".join(parts)


def cited_numbers(text: str, count: int) -> tuple[list[int], list[int]]:
    """The source numbers an answer cites (in order of first use) and any outside 1..count."""
    import re

    from ..corpus.support import CITATION

    good: list[int] = []
    bad: list[int] = []
    for match in CITATION.finditer(text):
        for number in (int(n) for n in re.findall(r"\d+", match.group(1))):
            target = good if 1 <= number <= count else bad
            if number not in target:
                target.append(number)
    return good, bad


def attribute_citations(text: str, sources: list[str], threshold: float = 0.5) -> tuple[str, list[int]]:
    """Post-hoc attribution: cite after each sentence the source holding most of its content words
    (at least `threshold` of them); sentences no source supports stay uncited."""
    from ..corpus.chunking import split_sentences
    from ..corpus.support import content_words

    vocab = [content_words(s) for s in sources]
    out: list[str] = []
    cited: list[int] = []
    for sentence in split_sentences(text):
        words = content_words(sentence)
        shares = [len(words & v) / len(words) if words else 0.0 for v in vocab]
        best = max(range(len(shares)), key=lambda i: (shares[i], -i)) if shares else 0
        if shares and shares[best] >= threshold:
            n = best + 1
            sentence = f"{sentence[:-1]} [{n}]{sentence[-1]}" if sentence[-1] in ".!?" else f"{sentence} [{n}]"
            cited += [n] if n not in cited else []
        out.append(sentence)
    return " ".join(out), cited


class GroundedAnswerConfig(BaseModel):
    """Recipe fields of a `grounded_answer` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "grounded_answer"
    name: str
    question: str = Field("{{ question }}", description="the question to answer (a template)")
    query: str | None = Field(None, description="the search query (a template); default: the question")
    include: list[str] = Field(default_factory=list, description="templates giving chunk ids always in the context")
    k: int = Field(3, ge=1, le=20, description="chunks in the context, included ones counted")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    prompt: str = Field(DEFAULT_ANSWER_PROMPT, description="template; sees `sources`, `question` and the record")
    system: str | None = None
    require_citation: bool = Field(True, description="reject answers that cite no source")
    attribute: bool = Field(False, description="when the model cites nothing, cite for it: each sentence gets the "
                            "source sharing most of its content words (small models rarely cite)")
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name")(check_identifier)


class GroundedAnswerStage(StageBase):
    """Retrieves context, asks for a cited answer, maps [n] back to chunk ids."""

    Config = GroundedAnswerConfig
    uses_corpus = True

    def __init__(self, config: GroundedAnswerConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.corpus = context.corpus
        self.question = PromptTemplate(config.question)
        self.query = PromptTemplate(config.query) if config.query else self.question
        self.include = [PromptTemplate(t) for t in config.include]
        self.prompt = PromptTemplate(config.prompt)
        self.system = PromptTemplate(config.system) if config.system else None
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.outputs = (config.name, f"{config.name}_citations", f"{config.name}_sources", f"{config.name}_cited_by")
        own = (self.prompt.variables | (self.system.variables if self.system else frozenset())) - LOCAL
        self.inputs = own | self.question.variables | self.query.variables | frozenset().union(*(t.variables for t in self.include))
        self.fingerprint = fingerprint_of(config.prompt, config.system, config.question, config.query, *config.include)

    def render(self, record: Record) -> Request | Rejected:
        values = record.variables()
        question = self.question.render(values).strip()
        if not question:
            return Rejected("empty_question", f"{self.name}: the question is empty")
        chunks = self.corpus.context(render_ids(self.include, values), self.query.render(values),
                                     self.config.k, self.config.mode)
        if not chunks:
            return Rejected("no_context", f"{self.name}: nothing in the corpus matches {question[:80]!r}")
        record.state[self.name] = {"sources": [c.id for c in chunks]}
        local = values | {"sources": format_sources(chunks), "question": question}
        return self.maker.request(chat(self.prompt, self.system, local), record)

    def parse(self, response: Response, record: Record) -> ParseResult:
        sources: list[str] = record.state[self.name]["sources"]
        text = response.text.strip()
        if not text:
            return Rejected("empty", f"{self.name}: the answer is empty")
        good, bad = cited_numbers(text, len(sources))
        cited_by = "model"
        if not good and self.config.attribute:
            text, good = attribute_citations(text, [self.corpus.get(i).text for i in sources])
            cited_by = "overlap"
        if self.config.require_citation and not good:
            extra = f" (cites [{', '.join(map(str, bad))}], but there are {len(sources)} sources)" if bad else ""
            return Rejected("no_citation", f"{self.name}: the answer cites no source{extra}: {text[:160]!r}")
        return {self.outputs[0]: text, self.outputs[1]: [sources[n - 1] for n in good], self.outputs[2]: sources,
                self.outputs[3]: cited_by if good else None}
