"""The basic technique: render a prompt from the record's slots, keep the model's text."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Message, Request, Response
from ..record import Record, Rejected
from ..recipe.model import GenerationParams, check_identifier
from ..templates import PromptTemplate
from .base import ParseResult, StageContext
from .common import RequestMaker, fingerprint_of

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
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.outputs = (config.output or config.name,)
        self.inputs = self.prompt.variables | (self.system.variables if self.system else frozenset())
        self.fingerprint = fingerprint_of(config.prompt, config.system)

    def messages(self, record: Record) -> list[Message]:
        values = record.variables()
        messages = [{"role": "user", "content": self.prompt.render(values)}]
        if self.system:
            messages.insert(0, {"role": "system", "content": self.system.render(values)})
        return messages

    def render(self, record: Record) -> Request:
        return self.maker.request(self.messages(record), record)

    def parse(self, response: Response, record: Record) -> ParseResult:
        text = response.text.strip()
        if not text:
            return Rejected("empty_output", f"stage {self.name} got an empty reply")
        return {self.outputs[0]: text}
