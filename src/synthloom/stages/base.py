"""The Stage protocol: a pure `render(record) -> Request` and `parse(response, record)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, ClassVar, Protocol

from pydantic import BaseModel

from ..backends.base import Request, Response
from ..record import Record, Rejected
from ..recipe.model import GenerationParams

__all__ = ["Stage", "StageContext", "ParseResult"]

ParseResult = dict[str, Any] | Rejected | Request
"""What parse gives back: the fields to add, a rejection, or the next request to send
(a follow-up: the runner sends it and calls parse again with its response)."""


@dataclass(frozen=True)
class StageContext:
    """What a stage gets from the recipe besides its own config."""

    seed: int = 0
    params: GenerationParams = field(default_factory=GenerationParams)
    model: str = ""
    models: dict[str, str] = field(default_factory=dict)  # named backends → their model ids
    corpus: Any = None  # a CorpusIndex for stages with `uses_corpus = True`
    base_dir: Any = None  # the recipe's folder, for files a step reads (a blocklist)

    def model_for(self, backend: str | None) -> str:
        return self.models.get(backend, self.model) if backend else self.model


class Stage(Protocol):
    """One LLM step of a record's pipeline.

    `inputs` are the record variables its templates read (checked against slots and earlier
    outputs before any request is sent), `outputs` the fields it adds, `fingerprint` a hash of
    its templates for lineage. Neither method touches a backend, so both test without one.
    A stage that needs several calls (turns of a conversation, a repair of invalid JSON)
    returns the next Request from `parse`, keeping its progress in `record.state`. A stage
    that needs no call this time (a retrieval, a check that already failed) returns its fields
    or a Rejected from `render` directly, or an awaitable of them (a check that runs a
    subprocess), which the runner awaits.
    """

    Config: ClassVar[type[BaseModel]]
    name: str
    inputs: frozenset[str]
    outputs: tuple[str, ...]
    fingerprint: str

    def render(self, record: Record) -> Request | dict[str, Any] | Rejected | Awaitable[dict[str, Any] | Rejected]: ...

    def parse(self, response: Response, record: Record) -> ParseResult: ...
