"""Constitution-style critique: a list of rules, each checked by the judge in its own call.

For every rule the judge writes a short critique of the text against that rule and ends with
"Verdict: PASS" or "Verdict: FAIL". A reply without a verdict gets one follow-up asking for
{"verdict": "PASS"|"FAIL"} under a JSON Schema (grammar-constrained backends must comply).
More than `max_violations` failed rules rejects the record as `violates_rule`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Request, Response
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, fingerprint_of

__all__ = ["ConstitutionStage", "ConstitutionConfig", "parse_verdict"]

VERDICT = re.compile(r"verdict\s*[:=]?\s*\**\s*(pass|fail|passes|fails|yes|no)\b", re.IGNORECASE)
VERDICT_FORMAT = {"type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": {
    "type": "object", "properties": {"verdict": {"type": "string", "enum": ["PASS", "FAIL"]}},
    "required": ["verdict"], "additionalProperties": False}}}

PROMPT = """\
Check the text below against one rule.

Rule: {{ rule }}
{% if context %}
The text was written for this task: {{ context }}
{% endif %}
Text:
{{ text }}

First write one or two sentences of critique: does the text break the rule, and where? Then write "Verdict: PASS" if the text follows the rule, or "Verdict: FAIL" if it breaks it, on the last line."""


def parse_verdict(text: str) -> bool | None:
    """True for PASS, False for FAIL (the last verdict in the reply), None if there is none."""
    match = re.search(r'"verdict"\s*:\s*"(PASS|FAIL)"', text, re.IGNORECASE)
    found = [match.group(1)] if match else VERDICT.findall(text)
    if not found:
        return None
    return found[-1].lower() in ("pass", "passes", "yes")


class ConstitutionConfig(BaseModel):
    """Recipe fields of a `constitution` step."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "constitution"
    name: str = "constitution"
    text: str = Field(min_length=1, description="template: what is checked, e.g. \"{{ story }}\"")
    context: str | None = Field(None, description="template: the task the text was written for")
    rules: list[str] = Field(min_length=1)
    max_violations: int = Field(0, ge=0, description="rules a kept record may break")
    prompt: str = Field(PROMPT, description="per-rule template; sees rule, text, context and the record")
    repairs: int = Field(1, ge=0, le=3)
    params: GenerationParams = Field(default_factory=lambda: GenerationParams(temperature=0.0, max_tokens=200))

    _check_name = field_validator("name")(check_identifier)


class ConstitutionStage(StageBase):
    """One call per rule (each cached); outputs NAME = {"violations", "checked"} and NAME_critiques."""

    Config = ConstitutionConfig

    def __init__(self, config: ConstitutionConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.text = PromptTemplate(config.text)
        self.context = PromptTemplate(config.context) if config.context else None
        self.prompt = PromptTemplate(config.prompt)
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.outputs = (config.name, f"{config.name}_critiques")
        self.inputs = (self.text.variables | (self.context.variables if self.context else frozenset())
                       | (self.prompt.variables - {"rule", "text", "context"}))
        self.fingerprint = fingerprint_of(config.prompt, config.text, config.context, *config.rules)

    def ask(self, record: Record, rule_index: int) -> Request:
        values = record.variables()
        state = record.state[self.name]
        content = self.prompt.render({**values, "rule": self.config.rules[rule_index], "text": self.text.render(values),
                                      "context": self.context.render(values) if self.context else ""})
        state.update(rule=rule_index, repairs=0, messages=[{"role": "user", "content": content}], critique=None)
        return self.maker.request(state["messages"], record, "rule", rule_index)

    def render(self, record: Record) -> Request:
        record.state[self.name] = {"violations": [], "critiques": []}
        return self.ask(record, 0)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        if state["critique"] is None:
            state["critique"] = response.text.strip()
        verdict = parse_verdict(response.text)
        if verdict is None and state["repairs"] < self.config.repairs:
            state["repairs"] += 1
            state["messages"] = [*state["messages"], {"role": "assistant", "content": response.text},
                                 {"role": "user", "content": 'Give only your verdict as JSON: {"verdict": "PASS"} or {"verdict": "FAIL"}'}]
            return self.maker.request(state["messages"], record, "rule", state["rule"], "repair", state["repairs"],
                                      response_format=VERDICT_FORMAT)
        rule = self.config.rules[state["rule"]]
        if verdict is None:
            return Rejected("no_verdict", f"no PASS/FAIL for rule {rule!r}: {response.text[-160:]!r}")
        state["critiques"].append(state["critique"])
        if not verdict:
            state["violations"].append(rule)
        if state["rule"] + 1 < len(self.config.rules):
            return self.ask(record, state["rule"] + 1)
        fields: dict[str, Any] = {self.outputs[0]: {"violations": state["violations"], "checked": len(self.config.rules)},
                                  self.outputs[1]: state["critiques"]}
        if len(state["violations"]) > self.config.max_violations:
            first = state["violations"][0]
            return Rejected("violates_rule", f"breaks {len(state['violations'])} rule(s), first {first!r}: "
                            f"{state['critiques'][self.config.rules.index(first)][:160]}", fields=fields)
        return fields
