"""The one thing stages exchange: a record, its sampled slots, generated fields and lineage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "Rejected"]


@dataclass
class Record:
    """A dataset row in the making.

    `slots` are the sampled entity values (the labels of the dataset), `fields` what stages
    generated, `lineage` one entry per LLM call (stage, template hash, model, params, usage).
    `state` is scratch space for stages that make several calls (a conversation's turns so
    far); it is rebuilt on resume from cached responses and never exported.
    """

    index: int
    id: str
    slots: dict[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    basis: Any = None  # what seeds derive from, when not the index: a data row's id or content (sampling/rows.py)

    @property
    def seed_basis(self) -> Any:
        return self.index if self.basis is None else self.basis

    def variables(self) -> dict[str, Any]:
        """What a template can see: slots, earlier outputs, and the record's id and index."""
        return {"id": self.id, "index": self.index, **self.slots, **self.fields}

    def row(self) -> dict[str, Any]:
        """The dataset row: id, the sampled slots, the generated fields."""
        return {"id": self.id, **self.slots, **self.fields}


@dataclass(frozen=True)
class Rejected:
    """A stage's verdict that a record is unusable; `reason` is a short code for stats.

    `fields` are added to the rejected row (what a check found, e.g. the words still missing),
    so rejected.jsonl shows why without re-running anything.
    """

    reason: str
    detail: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
