"""What every LLM stage shares: its merged params, model id, and per-call seeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..backends.base import Message, Request
from ..recipe.model import GenerationParams
from ..record import Record
from ..sampling import derive_seed
from ..templates import PromptTemplate
from .base import StageContext

__all__ = ["RequestMaker", "fingerprint_of", "chat"]


@dataclass(frozen=True)
class RequestMaker:
    """Builds a stage's requests: recipe params under stage params, a seed per call."""

    stage: str
    params: GenerationParams
    model: str
    seed: int

    @classmethod
    def for_stage(cls, name: str, params: GenerationParams, context: StageContext) -> RequestMaker:
        merged = params.merged_over(context.params)
        return cls(name, merged, context.model_for(merged.backend), context.seed)

    def call_seed(self, record: Record, *call: object) -> int:
        """The stage's fixed seed, or one derived from (recipe seed, record, stage, call)."""
        if self.params.seed is not None:
            return self.params.seed if not call else derive_seed(self.params.seed, *call) % 2**31
        return derive_seed(self.seed, record.seed_basis, self.stage, *call) % 2**31

    def request(self, messages: list[Message] | tuple[Message, ...], record: Record, *call: object,
                response_format: dict[str, Any] | None = None, **overrides: Any) -> Request:
        p = self.params
        values = {
            "temperature": p.temperature, "top_p": p.top_p, "max_tokens": p.max_tokens,
            "frequency_penalty": p.frequency_penalty, "presence_penalty": p.presence_penalty,
        } | overrides
        return Request(
            messages=tuple(messages),
            model=self.model,
            stop=tuple(p.stop),
            seed=self.call_seed(record, *call),
            extra=p.extra,
            response_format=response_format,
            backend=p.backend,
            **values,
        )


def chat(prompt: PromptTemplate, system: PromptTemplate | None, values: dict[str, Any], suffix: str = "") -> list[Message]:
    """A user message from `prompt` (plus `suffix`), after a system message from `system` if any."""
    messages = [{"role": "user", "content": prompt.render(values) + suffix}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system.render(values)})
    return messages


def fingerprint_of(*sources: str | None) -> str:
    """A short hash of a stage's templates, for lineage."""
    blob = "\0".join(s or "" for s in sources)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
