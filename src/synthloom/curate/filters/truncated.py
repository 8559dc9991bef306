"""Rejects records whose text was cut off by max_tokens (finish_reason "length")."""

from __future__ import annotations

from pydantic import Field

from ...record import Record, Rejected
from .base import Filter, FilterConfig

__all__ = ["TruncatedFilter", "TruncatedConfig"]


class TruncatedConfig(FilterConfig):
    kind: str = "truncated"
    field: str = Field("", description="unused; the check reads the calls' finish_reason")
    stages: list[str] = Field(default_factory=list, description="stages whose last call is checked; default: all")


class TruncatedFilter(Filter):
    """`truncated`, naming the stage whose final reply hit the token limit."""

    Config = TruncatedConfig
    config: TruncatedConfig

    def __init__(self, config: TruncatedConfig, context=None):
        super().__init__(config)
        self.inputs = frozenset()

    def check(self, text: str, record: Record) -> Rejected | None:
        last: dict[str, str | None] = {}
        for call in record.lineage:  # in call order: a later call of a stage (a repair) replaces its reply
            last[call["stage"]] = call.get("finish_reason")
        for stage, reason in last.items():
            if reason == "length" and (not self.config.stages or stage in self.config.stages):
                return Rejected("truncated", f"stage {stage} stopped at max_tokens")
        return None

    def render(self, record: Record):
        return self.check("", record) or {}
