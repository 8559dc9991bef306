"""Evol-Instruct (WizardLM, Xu et al. 2023): rewrite an instruction into a harder one, step by
step, in depth (add a constraint, deepen, concretize, more reasoning steps) or in breadth (a
new instruction in the same domain), then answer it. An evolution is eliminated, as in the
paper, when it brings no real change, when it copies the rewriting prompt's own wording, or
when the answer to it fails (a refusal, or nothing but punctuation and stop words).
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends.base import Request, Response
from ..recipe.model import GenerationParams, check_identifier
from ..record import Record, Rejected
from ..sampling import derive_seed
from ..templates import PromptTemplate
from .base import ParseResult, StageBase, StageContext
from .common import RequestMaker, fingerprint_of

__all__ = ["EvolveStage", "EvolveConfig", "OPERATIONS", "eliminate_instruction", "eliminate_response"]

DEPTH = (
    "You rewrite instructions into harder versions that are still reasonable and answerable by a person. "
    "Rewrite the user's instruction using this method: {method} Add at most 20 words, keep it self-contained, "
    "and reply with only the rewritten instruction."
)
OPERATIONS = {
    "add_constraints": DEPTH.replace("{method}", "add one more constraint or requirement."),
    "deepen": DEPTH.replace("{method}", "ask about the topic in more depth and breadth."),
    "concretize": DEPTH.replace("{method}", "replace general concepts with more specific ones."),
    "increase_reasoning": DEPTH.replace("{method}", "make it explicitly require several steps of reasoning."),
    "breadth": (
        "You write new instructions. Taking the user's instruction as inspiration, write a brand new instruction "
        "in the same domain but about a rarer, more specific topic, of similar length and difficulty. Reply with "
        "only the new instruction."
    ),
}
LEAKS = ("rewritten instruction", "given instruction", "rewritten prompt", "given prompt", "#rewritten", "#given")
LABEL = re.compile(r"^\s*(?:\**\s*(?:rewritten|new|evolved)\s+(?:instruction|prompt)\s*\**\s*:\s*)", re.IGNORECASE)
REFUSALS = ("sorry", "i cannot", "i can't", "as an ai")
STOP = frozenset("a an the and or of to in on is are be it this that for with as by at".split())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def eliminate_instruction(before: str, after: str) -> Rejected | None:
    """The paper's rules 1 and 4: no real change, or the rewriting prompt's wording copied."""
    if any(leak in after.lower() for leak in LEAKS):
        return Rejected("copied_prompt", after[:200])
    old, new = set(words(before)), set(words(after))
    if not new or new <= old or len(old & new) / len(old | new) > 0.9:
        return Rejected("no_change", after[:200])
    return None


def eliminate_response(text: str) -> Rejected | None:
    """The paper's rules 2 and 3: a refusal in a short answer, or no content words at all."""
    tokens = words(text)
    if not [t for t in tokens if t not in STOP]:
        return Rejected("failed_response", "only punctuation and stop words")
    if len(tokens) < 80 and any(refusal in text.lower() for refusal in REFUSALS):
        return Rejected("failed_response", text[:200])
    return None


class EvolveConfig(BaseModel):
    """Recipe fields of an `evol` stage."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "evol"
    name: str
    input: str = Field(min_length=1, description="template giving the instruction to evolve")
    steps: int = Field(2, ge=1, le=8)
    operations: list[str] = Field(default_factory=lambda: list(OPERATIONS))
    respond: bool = True
    params: GenerationParams = Field(default_factory=GenerationParams)

    _check_name = field_validator("name")(check_identifier)

    @field_validator("operations")
    @classmethod
    def known_operations(cls, ops: list[str]) -> list[str]:
        unknown = sorted(set(ops) - set(OPERATIONS))
        if unknown or not ops:
            raise ValueError(f"unknown operations {unknown} (known: {', '.join(OPERATIONS)})" if unknown else "no operations")
        return ops


class EvolveStage(StageBase):
    """Evolves an instruction `steps` times (one sampled operation each), then answers it."""

    Config = EvolveConfig

    def __init__(self, config: EvolveConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.input = PromptTemplate(config.input)
        self.maker = RequestMaker.for_stage(config.name, config.params, context)
        self.seed = context.seed
        self.outputs = (config.name, f"{config.name}_operations") + ((f"{config.name}_response",) if config.respond else ())
        self.inputs = self.input.variables
        self.fingerprint = fingerprint_of(config.input, *OPERATIONS.values())

    def operation(self, record: Record, step: int) -> str:
        return random.Random(derive_seed(self.seed, record.seed_basis, self.name, step)).choice(self.config.operations)

    def evolve_request(self, record: Record) -> Request:
        state = record.state[self.name]
        op = self.operation(record, len(state["ops"]))
        state["ops"].append(op)
        messages = [{"role": "system", "content": OPERATIONS[op]}, {"role": "user", "content": state["instruction"]}]
        return self.maker.request(messages, record, "step", len(state["ops"]))

    def render(self, record: Record) -> Request:
        record.state[self.name] = {"instruction": self.input.render(record.variables()).strip(), "ops": [], "answering": False}
        return self.evolve_request(record)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        text = LABEL.sub("", response.text.strip()).strip().strip('"').strip()
        if state["answering"]:
            return eliminate_response(text) or self.result(state, text)
        rejected = eliminate_instruction(state["instruction"], text)
        if rejected:
            return Rejected(rejected.reason, f"step {len(state['ops'])} ({state['ops'][-1]}): {rejected.detail}")
        state["instruction"] = text
        if len(state["ops"]) < self.config.steps:
            return self.evolve_request(record)
        if not self.config.respond:
            return self.result(state, None)
        state["answering"] = True
        return self.maker.request([{"role": "user", "content": text}], record, "respond")

    def result(self, state: dict[str, Any], answer: str | None) -> dict[str, Any]:
        fields = {self.outputs[0]: state["instruction"], self.outputs[1]: list(state["ops"])}
        if answer is not None:
            fields[self.outputs[2]] = answer
        return fields
