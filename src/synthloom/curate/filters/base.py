"""What every filter shares: which field it reads, and the Stage plumbing around `check`.

A filter is a curation step that makes no LLM call: `render` reads the record's text and
returns nothing to add, or a Rejected with the filter's reason. Subclasses implement
`check(text, record) -> Rejected | None` and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...backends.base import Response
from ...recipe.model import check_identifier
from ...record import Record, Rejected
from ...stages.base import StageBase, StageContext
from ...stages.common import fingerprint_of

__all__ = ["FilterConfig", "Filter", "text_of"]


class FilterConfig(BaseModel):
    """Recipe fields every filter has: `kind`, `name` (default: the kind), `field` to read."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str = ""
    field: str = Field(min_length=1, description="the record field to check, e.g. story")

    @field_validator("field")
    @classmethod
    def field_is_identifier(cls, value: str) -> str:
        return check_identifier(value) if value else value

    def model_post_init(self, _context: Any) -> None:
        if not self.name:
            self.name = self.kind
        check_identifier(self.name)


class Filter(StageBase, ABC):
    """Base of the filters: a Stage whose render is a check, with no outputs."""

    Config: ClassVar[type[FilterConfig]] = FilterConfig
    outputs: tuple[str, ...] = ()

    def __init__(self, config: FilterConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.inputs = frozenset({config.field})
        self.fingerprint = fingerprint_of(config.model_dump_json())

    def render(self, record: Record) -> dict[str, Any] | Rejected:
        return self.check(text_of(record, self.config.field), record) or {}

    def parse(self, response: Response, record: Record) -> dict[str, Any]:
        return {}

    @abstractmethod
    def check(self, text: str, record: Record) -> Rejected | None:
        """None to keep the record, or the Rejected with this filter's reason."""


def text_of(record: Record, field: str) -> str:
    """The field as text: strings as they are, anything else (a JSON value) as its JSON."""
    value = record.variables().get(field, "")
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)
