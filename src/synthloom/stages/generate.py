"""The basic technique: render a prompt from the record's slots, keep the model's text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Message, Request, Response
from ..recipe.model import GenerationParams, check_identifier, check_json
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, chat, fingerprint_of

__all__ = ["GenerateStage", "GenerateConfig"]

MAX_JSON_DEPTH = 64


class GenerateConfig(BaseModel):
    """Recipe fields of a `generate` stage."""

    kind: str = "generate"
    name: str
    prompt: str = Field(min_length=1)
    system: str | None = None
    output: str | None = Field(None, description="field the text is stored in; default: the stage name")
    params: GenerationParams = Field(default_factory=GenerationParams)
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="JSON Schema the reply must match")
    repairs: int = Field(2, ge=0, le=10, description="follow-ups showing the validation error, before rejecting")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("schema_", mode="before")
    @classmethod
    def schema_from_model(cls, value: Any) -> Any:
        """A pydantic model class is accepted in code and turned into its JSON Schema."""
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value.model_json_schema()
        if value is not None:
            import jsonschema  # 0.2 s to import: only for recipes with structured output

            try:
                jsonschema.Draft202012Validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
            except RecursionError:
                raise ValueError("not a valid JSON Schema: nested too deeply") from None
            check_json(value)  # it goes into every request (response_format)
        return value

    _check_name = field_validator("name")(check_identifier)

    @field_validator("output")
    @classmethod
    def output_is_identifier(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)


def schema_validator(schema: dict[str, Any]) -> Any:
    """A validator for the reply's JSON Schema (jsonschema is imported only when a stage has one)."""
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


class GenerateStage(StageBase):
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
        self.fingerprint = fingerprint_of(config.prompt, config.system, json.dumps(config.schema_, sort_keys=True))
        self.validator = schema_validator(config.schema_) if config.schema_ else None
        self.response_format = (
            {"type": "json_schema", "json_schema": {"name": config.name, "schema": config.schema_, "strict": True}}
            if config.schema_ else None
        )

    def messages(self, record: Record) -> list[Message]:
        schema = self.config.schema_
        suffix = "\n\nReply with only a JSON object matching this JSON Schema:\n" + json.dumps(schema) if schema else ""
        return chat(self.prompt, self.system, record.variables(), suffix)

    def reask(self, messages: list[Message], record: Record, attempt: int) -> Request:
        return self.maker.request(messages, record, "regenerate", attempt)

    def render(self, record: Record) -> Request:
        messages = self.messages(record)
        record.state[self.name] = {"messages": messages, "repairs": 0}
        return self.maker.request(messages, record, response_format=self.response_format)

    def parse(self, response: Response, record: Record) -> ParseResult:
        text = response.text.strip()
        if not text:
            return Rejected("empty_output", f"stage {self.name} got an empty reply")
        if self.validator is None:
            return {self.outputs[0]: text}
        value, error = self.validate(text)
        if error is None:
            return {self.outputs[0]: value}
        state = record.state[self.name]
        if state["repairs"] >= self.config.repairs:
            return Rejected("schema_invalid", f"after {state['repairs']} repairs: {error}")
        state["repairs"] += 1
        state["messages"] = [*state["messages"], {"role": "assistant", "content": text},
                             {"role": "user", "content": f"That reply is not valid: {error}. Reply with only the corrected JSON object."}]
        return self.maker.request(state["messages"], record, "repair", state["repairs"], response_format=self.response_format)

    def validate(self, text: str) -> tuple[Any, str | None]:
        """The parsed JSON and None, or None and why it does not match the schema."""
        try:
            value = json.loads(strip_fences(text), strict=False)  # raw newlines inside strings are fine
        except ValueError as exc:
            return None, f"not JSON ({exc})"
        except RecursionError:
            return None, f"not JSON this program can read (nested over {MAX_JSON_DEPTH} levels deep)"
        if depth_over(value, MAX_JSON_DEPTH):  # the store and the exports could not write it
            return None, f"nested over {MAX_JSON_DEPTH} levels deep"
        error = next(iter(sorted(self.validator.iter_errors(value), key=str)), None)  # type: ignore[union-attr]
        if error is not None:
            where = "/".join(map(str, error.absolute_path)) or "the top level"
            return None, f"at {where}: {error.message}"
        return value, None


def depth_over(value: Any, limit: int) -> bool:
    """Whether JSON arrays and objects nest more than `limit` levels (without recursing that deep)."""
    level = [value]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return True


def strip_fences(text: str) -> str:
    """Models often wrap JSON in ```json fences; take what is inside."""
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()
