"""An entity list: the named items a slot samples from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EntityList"]


@dataclass(frozen=True)
class EntityList:
    """A named list of items, optionally with relative weights."""

    name: str
    items: Sequence[Any]  # a tuple, or the rows of a data file read on demand (tables.TableRows)
    weights: tuple[float, ...] | None = None
    table: Any = None  # the tables.Table behind a data file's list

    def fingerprint(self) -> Any:
        """What identifies the list's content: its items, or a data file's content hash."""
        return self.table.fingerprint if self.table is not None else [self.items, self.weights]
