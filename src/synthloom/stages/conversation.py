"""Multi-turn conversations: two roles played by the LLM, one request per turn.

The speaker who opens plays `user`, the other `assistant`. Each turn is its own request: the
speaker's system prompt, then the conversation so far from that speaker's point of view (its
own lines as `assistant`, the other's as `user`). A speaker may end the conversation early by
writing the end marker. The output is the chat `messages` list that SFT trainers read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backends.base import Message, Request, Response
from ..recipe.load import FieldProblem
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, fingerprint_of

__all__ = ["ConversationStage", "ConversationConfig"]

ROLES = ("user", "assistant")

GROUNDING_NOTE = "\n\nSources:\n{sources}\n\nAnswer only from these sources, and cite the source of every claim by its number in brackets, like [1]."


class ConversationRetrieval(BaseModel):
    """Grounding for the assistant: before each of its turns, search the corpus with the user's
    last message and put the results in its system prompt."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=1, le=20, description="chunks per assistant turn, included ones counted")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    include: list[str] = Field(default_factory=list, description="templates giving chunk ids in every turn's sources")


class ConversationConfig(BaseModel):
    """Recipe fields of a `conversation` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "conversation"
    name: str
    user: str = Field(min_length=1, description="system prompt of the speaker who opens (a template)")
    assistant: str = Field(min_length=1, description="system prompt of the other speaker (a template)")
    opener: str = Field("Start the conversation.", description="instruction for the first line (a template)")
    turns: int = Field(6, ge=2, le=60, description="most messages in the conversation")
    min_turns: int = Field(2, ge=1)
    end_marker: str = "[END]"
    output: str = "messages"
    retrieve: ConversationRetrieval | None = Field(None, description="ground the assistant's turns in the corpus")
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name")(check_identifier)

    @model_validator(mode="after")
    def turn_bounds(self) -> ConversationConfig:
        if self.min_turns > self.turns:
            raise ValueError(f"min_turns ({self.min_turns}) is more than turns ({self.turns})")
        return self


class ConversationStage(StageBase):
    """Alternates the two speakers turn by turn until `turns`, or an end marker after `min_turns`."""

    Config = ConversationConfig

    def __init__(self, config: ConversationConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.systems = {"user": PromptTemplate(config.user), "assistant": PromptTemplate(config.assistant)}
        self.opener = PromptTemplate(config.opener)
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.corpus = context.corpus
        if config.retrieve and self.corpus is None:
            raise FieldProblem(("retrieve",), "grounds the conversation in a corpus, but the recipe has no `corpus:` "
                               "(add `corpus: PATH`, or pass --corpus DIR)")
        self.include = [PromptTemplate(t) for t in config.retrieve.include] if config.retrieve else []
        self.outputs: tuple[str, ...] = (config.output, f"{config.output}_sources") if config.retrieve else (config.output,)
        self.inputs = self.systems["user"].variables | self.systems["assistant"].variables | self.opener.variables
        self.inputs = self.inputs.union(*(t.variables for t in self.include))
        self.fingerprint = fingerprint_of(config.user, config.assistant, config.opener,
                                          config.retrieve.model_dump_json() if config.retrieve else None)

    def render(self, record: Record) -> Request:
        values = record.variables()
        record.state[self.name] = {
            "lines": [],
            "user": self.systems["user"].render(values),
            "assistant": self.systems["assistant"].render(values),
            "opener": self.opener.render(values),
            "sources": [],
        }
        if self.config.retrieve:
            from .retrieve import render_ids

            record.state[self.name]["include"] = render_ids(self.include, values)
        return self.next_request(record)

    def grounding(self, record: Record, lines: list[str], spec: ConversationRetrieval) -> str:
        """Sources for the assistant's next turn (searched with the user's last line), noted in state."""
        from .grounded import format_sources

        state = record.state[self.name]
        chunks = self.corpus.context(state["include"], lines[-1], spec.k, spec.mode)
        state["sources"] = state["sources"][: len(lines) // 2] + [[c.id for c in chunks]]
        return GROUNDING_NOTE.format(sources=format_sources(chunks))

    def next_request(self, record: Record) -> Request:
        """The request for whoever speaks next, seeing the conversation from their side."""
        state = record.state[self.name]
        lines: list[str] = state["lines"]
        speaker = ROLES[len(lines) % 2]
        marker = self.config.end_marker
        system = state[speaker] + (f"\nWhen the conversation has reached a natural end, write {marker}." if marker else "")
        if speaker == "assistant" and self.config.retrieve:
            system += self.grounding(record, lines, self.config.retrieve)
        messages: list[Message] = [{"role": "system", "content": system}]
        if speaker == "user":
            messages.append({"role": "user", "content": state["opener"]})
        for turn, line in enumerate(lines):
            own = ROLES[turn % 2] == speaker
            messages.append({"role": "assistant" if own else "user", "content": line})
        return self.maker.request(messages, record, "turn", len(lines))

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        lines: list[str] = state["lines"]
        text = response.text.strip()
        ended = bool(self.config.end_marker) and self.config.end_marker in text
        if ended:
            text = text.replace(self.config.end_marker, "").strip()
        if text:
            lines.append(text)
        enough = len(lines) >= self.config.min_turns
        if (ended or not text) and enough or len(lines) >= self.config.turns:
            messages = [{"role": ROLES[i % 2], "content": line} for i, line in enumerate(lines)]
            if self.config.retrieve:
                return {self.outputs[0]: messages, self.outputs[1]: state["sources"][: len(lines) // 2]}
            return {self.outputs[0]: messages}
        if not text:
            return Rejected("empty_turn", f"turn {len(lines) + 1} of {self.name} was empty")
        return self.next_request(record)
