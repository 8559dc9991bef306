"""Random access to the rows of a converted table: one small batch read at a time.

A row is read by loading its batch from the IPC file with a positioned read (not a memory
map, whose touched pages would count against the process's memory as a run walks the file)
and keeping the last few batches decoded. A Table pickles as its path and meta, so a Ray
worker reopens it.
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .convert import ROW

__all__ = ["Table", "TableRows"]

KEEP_BATCHES = 4


class Table:
    """The rows of one converted source: `row(i)` (a mapping of its columns), `position(i)` in the source."""

    def __init__(self, path: Path, meta: dict[str, Any], name: str):
        self.path = Path(path)
        self.meta = meta
        self.name = name  # the file as the recipe names it, for messages
        self.columns: list[str] = list(meta["columns"])
        self.num_rows: int = meta["rows"]
        self.starts = list(itertools.accumulate([0, *meta["batches"]]))
        self._reader: Any = None
        self._batches: OrderedDict[int, tuple[list[dict[str, Any]], list[int]]] = OrderedDict()

    @property
    def fingerprint(self) -> str:
        """The source's content and what was selected from it."""
        return f"{self.meta['content']}:{self.meta['options']}"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "meta": self.meta, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["meta"], state["name"])  # type: ignore[misc]

    def move_to(self, path: Path) -> None:
        """Read from `path` from now on (the file was moved there)."""
        self.path = Path(path)
        self._reader = None

    def batch(self, number: int) -> tuple[list[dict[str, Any]], list[int]]:
        cached = self._batches.get(number)
        if cached is not None:
            self._batches.move_to_end(number)
            return cached
        if self._reader is None:
            import pyarrow as pa

            self._reader = pa.ipc.open_file(pa.OSFile(str(self.path)))
        rows = self._reader.get_batch(number).to_pylist()
        positions = [row.pop(ROW) for row in rows]
        for name in self.meta.get("json_columns", ()):
            for row in rows:
                row[name] = orjson.loads(row[name])
        self._batches[number] = (rows, positions)
        if len(self._batches) > KEEP_BATCHES:
            self._batches.popitem(last=False)
        return rows, positions

    def locate(self, i: int) -> tuple[int, int]:
        if not 0 <= i < self.num_rows:
            raise IndexError(f"row {i} of {self.num_rows}")
        number = bisect.bisect_right(self.starts, i) - 1
        return number, i - self.starts[number]

    def row(self, i: int) -> dict[str, Any]:
        number, offset = self.locate(i)
        return dict(self.batch(number)[0][offset])

    def row_and_position(self, i: int) -> tuple[dict[str, Any], int]:
        """Row i and its position in the source, from one lookup."""
        number, offset = self.locate(i)
        rows, positions = self.batch(number)
        return dict(rows[offset]), positions[offset]

    def position(self, i: int) -> int:
        """Row i's position in the source file (0-based, before `where`)."""
        number, offset = self.locate(i)
        return self.batch(number)[1][offset]

    def column_values(self, name: str) -> list[Any]:
        """One column, every row (for grouping few-shot examples by label: small files)."""
        return [self.row(i)[name] for i in range(self.num_rows)]


class TableRows(Sequence[Any]):
    """A table as an entity list's items: row mappings, or one column's values."""

    def __init__(self, table: Table, column: str | None = None):
        self.table = table
        self.column = column

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.value(self.table.row(i))

    def value(self, row: dict[str, Any]) -> Any:
        """The item a row makes: the row, or its one column."""
        return row[self.column] if self.column else row

    def __repr__(self) -> str:
        return f"<{self.table.num_rows:,} rows of {self.table.name}>"
