"""LLM-as-judge: a rubric prompt, a "Score: N" parsed from the reply, a threshold to keep.

The score is read from the last "Score: N" in the reply (Markdown bold, "score = 4" and "4/5"
forms included), because rubric prompts ask for reasoning first and the score last. A reply
without a readable score gets a follow-up asking for {"score": N} under a JSON Schema, which
grammar-constrained backends (llama.cpp, vLLM) must then answer with a score in the scale.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backends.base import Request, Response
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, chat, fingerprint_of
from .rubrics import RUBRICS, criteria_prompt, rubric_prompt

__all__ = ["JudgeStage", "JudgeConfig", "parse_score", "ask_for_score", "score_format", "read_score"]

SCORE = re.compile(r"score\s*(?:[:=]|is)?\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*(?:/\s*\d+)?", re.IGNORECASE)


def parse_score(text: str) -> float | None:
    """The last "Score: N" in the text (or a JSON {"score": N}), or None."""
    try:
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get("score"), (int, float)):
            return float(value["score"])
    except ValueError:
        pass
    matches = SCORE.findall(text)
    return float(matches[-1]) if matches else None


def ask_for_score(messages: list[dict[str, str]], reply: str, scale: tuple[int, int]) -> list[dict[str, str]]:
    """The conversation so far plus a request for only the score, as JSON."""
    low, high = scale
    return [*messages, {"role": "assistant", "content": reply},
            {"role": "user", "content": f'Give only your score from {low} to {high} as JSON: {{"score": N}}'}]


def score_format(scale: tuple[int, int]) -> dict[str, Any]:
    """A response_format whose schema only admits {"score": N} with N in the scale."""
    low, high = scale
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": low, "maximum": high}},
              "required": ["score"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "score", "schema": schema, "strict": True}}


def read_score(response: Response, record: Record, state: dict[str, Any], scale: tuple[int, int], repairs: int,
               maker: RequestMaker) -> int | float | Request | Rejected:
    """The reply's score; else a follow-up asking for it as JSON (`state` keeps the messages,
    the first reply as reasoning, and the repairs made); else `no_score` after `repairs` tries."""
    low, high = scale
    if state["reasoning"] is None:
        state["reasoning"] = response.text.strip()
    score = parse_score(response.text)
    if score is not None and low <= score <= high:
        return int(score) if score.is_integer() else score
    if state["repairs"] >= repairs:
        return Rejected("no_score", f"no 'Score: N' with N in {low}..{high} in: {response.text[-200:]!r}")
    state["repairs"] += 1
    state["messages"] = ask_for_score(state["messages"], response.text, scale)
    return maker.request(state["messages"], record, "repair", state["repairs"], response_format=score_format(scale))


class JudgeConfig(BaseModel):
    """Recipe fields of a `judge` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "judge"
    name: str
    prompt: str | None = Field(None, min_length=1, description="the rubric, ending with the request for 'Score: N'")
    rubric: str | None = Field(None, description="a built-in rubric instead of `prompt`: backtranslation | quality")
    criteria: dict[int, str] | None = Field(None, description="a custom rubric instead of `prompt`: level → description")
    question: str = Field("Rate the text on this scale:", description="what `criteria` are asked about")
    instruction: str | None = Field(None, description="template: what was asked (for `rubric`/`criteria`)")
    response: str | None = Field(None, description="template: what is judged (for `rubric`/`criteria`)")
    system: str | None = None
    scale: tuple[int, int] = (1, 5)
    threshold: float | None = Field(None, description="keep records scoring at least this; none: keep all")
    output: str | None = Field(None, description="field for the score; default: the stage name")
    repairs: int = Field(1, ge=0, le=5)
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name")(check_identifier)

    @model_validator(mode="after")
    def threshold_in_scale(self) -> JudgeConfig:
        given = [key for key in ("prompt", "rubric", "criteria") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `prompt`, `rubric` (a built-in name) or `criteria` (level: description)")
        if self.rubric is not None:
            if self.rubric not in RUBRICS:
                raise ValueError(f"unknown rubric {self.rubric!r} (built in: {', '.join(RUBRICS)})")
            if not (self.instruction and self.response):
                raise ValueError(f"rubric {self.rubric!r} needs `instruction` and `response` templates, e.g. response: \"{{{{ story }}}}\"")
            self.scale = RUBRICS[self.rubric][1]
        if self.criteria is not None:
            if not self.response:
                raise ValueError("`criteria` need a `response` template: what is judged, e.g. \"{{ story }}\"")
            self.scale = (min(self.criteria), max(self.criteria))
        low, high = self.scale
        if low >= high:
            raise ValueError(f"scale {list(self.scale)} must go from low to high")
        if self.threshold is not None and not low <= self.threshold <= high:
            raise ValueError(f"threshold {self.threshold} is outside the scale {list(self.scale)}")
        return self


def judge_prompt(config: JudgeConfig) -> str:
    """The rubric template: the config's own prompt, a built-in rubric, or one built from criteria."""
    if config.rubric is not None:
        return rubric_prompt(config.rubric, config.instruction or "", config.response or "")
    if config.criteria is not None:
        return criteria_prompt(config.criteria, config.instruction, config.response or "", config.question)
    return config.prompt or ""


class JudgeStage(StageBase):
    """Scores a record with a rubric; below the threshold the record is rejected as low_score."""

    Config = JudgeConfig

    def __init__(self, config: JudgeConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.prompt = PromptTemplate(judge_prompt(config))
        self.system = PromptTemplate(config.system) if config.system else None
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        output = config.output or config.name
        self.outputs = (output, f"{output}_reasoning")
        self.inputs = self.prompt.variables | (self.system.variables if self.system else frozenset())
        self.fingerprint = fingerprint_of(self.prompt.source, config.system)

    def score_fields(self) -> dict[str, list[Any]]:
        return {self.outputs[0]: list(self.config.scale)}

    def render(self, record: Record) -> Request:
        messages = chat(self.prompt, self.system, record.variables())
        record.state[self.name] = {"messages": messages, "repairs": 0, "reasoning": None}
        return self.maker.request(messages, record)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        score = read_score(response, record, state, self.config.scale, self.config.repairs, self.maker)
        if isinstance(score, (Request, Rejected)):
            return score
        if self.config.threshold is not None and score < self.config.threshold:
            return Rejected("low_score", f"{self.name} = {score}, below the threshold {self.config.threshold:g}",
                            fields={self.outputs[0]: score, self.outputs[1]: state["reasoning"]})
        return {self.outputs[0]: score, self.outputs[1]: state["reasoning"]}
