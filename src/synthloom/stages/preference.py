"""Preference data: several responses to one prompt, each scored by a judge rubric.

Candidates differ by their sampling params (say temperature 0.2 against 1.0). Each is scored
(a "Score: N" reply, or a JSON {"score": N} follow-up); the best becomes `chosen` and the worst
`rejected` — the columns DPO trainers read — and every completion also gets a desirable label
by a score threshold, for KTO. Equal best and worst scores give no pair (rejected as `tie`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Request, Response
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, chat, fingerprint_of
from .judge import ask_for_score, parse_score, score_format

__all__ = ["PreferenceStage", "PreferenceConfig"]

DEFAULT_JUDGE = (
    "Rate how well the response answers the prompt: is it correct, helpful, complete and clearly written? "
    "Use a scale from {{ low }} (useless) to {{ high }} (excellent). Give a one-sentence reason, then write "
    "\"Score: N\" on the last line.\n\nPrompt: {{ prompt }}\n\nResponse: {{ response }}"
)


class PreferenceConfig(BaseModel):
    """Recipe fields of a `preference` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "preference"
    name: str
    prompt: str = Field(min_length=1, description="the prompt to answer (a template)")
    system: str | None = None
    candidates: list[GenerationParams] = Field(min_length=2, description="params of each response, over `params`")
    judge: str = Field(DEFAULT_JUDGE, description="template; sees prompt, response, low, high, and the record")
    scale: tuple[int, int] = (1, 10)
    desirable: float = Field(7, description="KTO label: a completion scoring at least this is desirable")
    params: GenerationParams = Field(default_factory=GenerationParams)
    judge_params: GenerationParams = Field(default_factory=lambda: GenerationParams(temperature=0.0, max_tokens=150))

    _check_name = field_validator("name")(check_identifier)


class PreferenceStage(StageBase):
    """Candidates one by one, then a judge call per candidate, then the pair and the labels."""

    Config = PreferenceConfig

    def __init__(self, config: PreferenceConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.prompt = PromptTemplate(config.prompt)
        self.system = PromptTemplate(config.system) if config.system else None
        self.judge = PromptTemplate(config.judge)
        self.makers = [RequestMaker.for_stage(config.name, c.merged_over(config.params), context) for c in config.candidates]
        self.judge_maker = RequestMaker.for_stage(config.name, config.judge_params, context)
        self.outputs = ("prompt", "chosen", "rejected", "chosen_score", "rejected_score", "completions")
        reserved = {"prompt", "response", "low", "high"}
        self.inputs = self.prompt.variables | (self.system.variables if self.system else frozenset()) | (self.judge.variables - reserved)
        self.fingerprint = fingerprint_of(config.prompt, config.system, config.judge)

    def render(self, record: Record) -> Request:
        messages = chat(self.prompt, self.system, record.variables())
        record.state[self.name] = {"messages": messages, "texts": [], "scores": [], "judging": None, "repaired": False}
        return self.makers[0].request(messages, record, "candidate", 0)

    def judge_request(self, record: Record) -> Request:
        state = record.state[self.name]
        i = len(state["scores"])
        low, high = self.config.scale
        values = record.variables() | {"prompt": state["messages"][-1]["content"], "response": state["texts"][i], "low": low, "high": high}
        state["judging"] = [{"role": "user", "content": self.judge.render(values)}]
        state["repaired"] = False
        return self.judge_maker.request(state["judging"], record, "judge", i)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        if state["judging"] is None:
            text = response.text.strip()
            if not text:
                return Rejected("empty_output", f"candidate {len(state['texts']) + 1} of {self.name} was empty")
            state["texts"].append(text)
            n = len(state["texts"])
            if n < len(self.makers):
                return self.makers[n].request(state["messages"], record, "candidate", n)
            return self.judge_request(record)
        low, high = self.config.scale
        score = parse_score(response.text)
        if score is None or not low <= score <= high:
            if state["repaired"]:
                return Rejected("no_score", f"no score for candidate {len(state['scores']) + 1}: {response.text[-200:]!r}")
            state["repaired"] = True
            state["judging"] = ask_for_score(state["judging"], response.text, self.config.scale)
            return self.judge_maker.request(state["judging"], record, "judge-repair", len(state["scores"]),
                                            response_format=score_format(self.config.scale))
        state["scores"].append(score)
        if len(state["scores"]) < len(state["texts"]):
            return self.judge_request(record)
        return self.result(state)

    def result(self, state: dict[str, Any]) -> ParseResult:
        scores, texts = state["scores"], state["texts"]
        best, worst = scores.index(max(scores)), scores.index(min(scores))
        if scores[best] == scores[worst]:
            return Rejected("tie", f"all candidates scored {scores[best]:g}")
        completions = [
            {"completion": text, "score": score, "label": score >= self.config.desirable, "params": i}
            for i, (text, score) in enumerate(zip(texts, scores))
        ]
        return {"prompt": state["messages"][-1]["content"], "chosen": texts[best], "rejected": texts[worst],
                "chosen_score": scores[best], "rejected_score": scores[worst], "completions": completions}
