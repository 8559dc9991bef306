"""The basic technique: render a prompt from the record's slots, keep the model's text."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Request, Response
from ..record import Record, Rejected
from ..recipe.model import GenerationParams, check_identifier
from ..sampling import derive_seed
from ..templates import PromptTemplate
from .base import ParseResult, StageContext

__all__ = ["GenerateStage", "GenerateConfig"]


class GenerateConfig(BaseModel):
    """Recipe fields of a `generate` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "generate"
    name: str
    prompt: str = Field(min_length=1)
    system: str | None = None
    output: str | None = Field(None, description="field the text is stored in; default: the stage name")
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name")(check_identifier)

    @field_validator("output")
    @classmethod
    def output_is_identifier(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)


class GenerateStage:
    """Renders `system` and `prompt` as chat messages; the stripped reply becomes `output`."""

    Config = GenerateConfig

    def __init__(self, config: GenerateConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.prompt = PromptTemplate(config.prompt)
        self.system = PromptTemplate(config.system) if config.system else None
        self.params = config.params.merged_over(context.params)
        self.seed = context.seed
        self.model = context.model
        self.outputs = (config.output or config.name,)
        self.inputs = self.prompt.variables | (self.system.variables if self.system else frozenset())
        sources = self.prompt.source + "\0" + (self.system.source if self.system else "")
        self.fingerprint = hashlib.sha256(sources.encode("utf-8")).hexdigest()[:16]

    def request_seed(self, record: Record) -> int:
        """The recipe's fixed seed, or one derived from (recipe seed, record, stage)."""
        if self.params.seed is not None:
            return self.params.seed
        return derive_seed(self.seed, record.index, self.name) % 2**31

    def render(self, record: Record) -> Request:
        values = record.variables()
        messages = ({"role": "user", "content": self.prompt.render(values)},)
        if self.system:
            messages = ({"role": "system", "content": self.system.render(values)},) + messages
        p = self.params
        return Request(
            messages=messages,
            model=self.model,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            stop=tuple(p.stop),
            seed=self.request_seed(record),
            extra=p.extra,
            frequency_penalty=p.frequency_penalty,
            presence_penalty=p.presence_penalty,
        )

    def parse(self, response: Response, record: Record) -> ParseResult:
        text = response.text.strip()
        if not text:
            return Rejected("empty_output", f"stage {self.name} got an empty reply")
        return {self.outputs[0]: text}
