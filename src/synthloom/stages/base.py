"""The Stage protocol: a pure `render(record) -> Request` and `parse(response, record)`,
and StageBase, which declares every optional hook a stage may offer, with its default."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from jinja2 import TemplateError
from pydantic import BaseModel

from ..backends.base import Request, Response
from ..errors import RecordError
from ..recipe.model import GenerationParams
from ..record import Record, Rejected

__all__ = ["BuiltStage", "Stage", "StageBase", "StageContext", "ParseResult", "with_stage_base"]

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
    base_dir: Any = None  # the recipe's folder, for files a curation step reads (a blocklist)

    def model_for(self, backend: str | None) -> str:
        return self.models.get(backend, self.model) if backend else self.model


class Stage(Protocol):
    """One step of a record's pipeline: an LLM stage (`stages:`) or a curation step (`curate:`).

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


class StageBase:
    """The optional hooks of a stage, each with its default. Built-in stages subclass it; a
    registered class that does not is given it as a base by the registry, so the pipeline,
    runner and summaries read these attributes and never probe for them."""

    scope: ClassVar[Literal["record", "dataset"]] = "record"
    """"record": render/parse per record; "dataset": sees all kept records at export (dedup)."""

    uses_corpus: ClassVar[bool] = False
    """True if it retrieves from the run's corpus: a recipe without `corpus:` is refused."""

    rejects: ClassVar[tuple[type[BaseException], ...]] = (TemplateError, RecordError)
    """Exceptions from render/parse that reject the record (`render_error`); anything else is a bug."""

    figures: ClassVar[Literal["constraints", "grounding"] | None] = None
    """Which run.json figures its rejections and outputs feed: constraint adherence, grounding support."""

    rewrites: frozenset[str] = frozenset()
    """Earlier fields it may overwrite (a check that regenerates the story it checks)."""

    def bind(self, earlier: Mapping[str, Any]) -> None:
        """Called once with the steps before it, by name (a check that re-asks an earlier stage)."""

    def score_fields(self) -> dict[str, list[Any]]:
        """Output fields that hold a score, each with its scale [low, high] (judges)."""
        return {}


class BuiltStage(Stage, Protocol):
    """A stage as the pipeline holds it: the Stage protocol plus StageBase's hooks, which the
    registry guarantees (see `with_stage_base`)."""

    scope: ClassVar[Literal["record", "dataset"]]
    uses_corpus: ClassVar[bool]
    rejects: ClassVar[tuple[type[BaseException], ...]]
    figures: ClassVar[Literal["constraints", "grounding"] | None]
    rewrites: frozenset[str]

    def bind(self, earlier: Mapping[str, Any]) -> None: ...

    def score_fields(self) -> dict[str, list[Any]]: ...


@runtime_checkable
class Regenerable(Protocol):
    """A stage a later check may re-ask with a note (generate is one): what it sent for a record,
    and the request that asks again with changed messages and a new seed."""

    def messages(self, record: Record) -> list[dict[str, str]]: ...

    def reask(self, messages: list[dict[str, str]], record: Record, attempt: int) -> Request: ...


def with_stage_base(cls: type[Any]) -> type[Any]:
    """`cls` itself if it subclasses StageBase, else a subclass of it that also has StageBase's
    defaults (a plugin stage written against the bare protocol)."""
    if issubclass(cls, StageBase):
        return cls
    return type(cls.__name__, (cls, StageBase), {"__module__": cls.__module__, "__doc__": cls.__doc__})
