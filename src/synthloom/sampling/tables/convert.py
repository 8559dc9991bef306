"""Turn a data file (or in-memory data) into an indexed Arrow IPC file, streaming.

The IPC file holds the selected rows (after `where`) and columns in small compressed record
batches, plus `__row`, each row's position in the source. Any row is then read by loading one
batch (tables.py), so memory stays flat whatever the number of rows. Text formats are read
twice: once to settle each column's type (and find bad input with its line), once to write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .readers import (
    DataError,
    UnknownColumn,
    arrow_schema,
    first_line,
    iter_arrow_batches,
    iter_text_rows,
    read_all_bytes_hash,
    source_files,
)
from .where import WhereError, compile_where

__all__ = ["TableOptions", "convert_source", "convert_arrow", "MAX_CELL_CHARS", "MAX_COLUMNS", "VERSION", "ROW"]

VERSION = 1  # of the IPC layout; a cached conversion of another version is rebuilt
ROW = "__row"
MAX_CELL_CHARS = 1_000_000  # a prompt is at most this long (templates.MAX_RENDERED_CHARS)
MAX_COLUMNS = 1_000
OUT_ROWS = 1024  # rows per written batch, fewer when rows are long
OUT_BYTES = 1 << 20
KINDS = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


@dataclass(frozen=True)
class TableOptions:
    """What the recipe selects from a table: rows (`where`), columns, or one column as a list."""

    columns: tuple[str, ...] | None = None
    column: str | None = None
    where: str | dict[str, Any] | None = None
    split: str | None = None

    def key(self) -> str:
        return json.dumps([VERSION, self.columns, self.column, self.where, self.split], sort_keys=True, default=str)


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"  # lists and objects are kept as JSON text and decoded when read


class ColumnTypes:
    """Each column's type, settled by its first non-null value; a clash is bad input."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.first: dict[str, str] = {}

    def observe(self, where: str, row: dict[str, Any]) -> None:
        for name, value in row.items():
            if value is None:
                if name not in self.kinds:
                    self.kinds.setdefault(name, "")
                continue
            kind = kind_of(value)
            if kind == "str" and len(value) > MAX_CELL_CHARS:
                raise DataError(f"has a cell of {len(value):,} characters, over the {MAX_CELL_CHARS:,} limit", where, name)
            known = self.kinds.get(name) or ""
            if not known:
                if name not in self.kinds and len(self.kinds) >= MAX_COLUMNS:
                    raise DataError(f"more than {MAX_COLUMNS:,} columns", where, name)
                self.kinds[name], self.first[name] = kind, where
            elif known != kind and {known, kind} != {"int", "float"}:
                raise DataError(f"is {KINDS[type(value)]} here but {describe(known)} in {self.first[name]} "
                                "(a column holds one type)", where, name)
            elif kind == "float":
                self.kinds[name] = "float"

    def schema(self) -> Any:
        import pyarrow as pa

        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "json": pa.string(), "": pa.string()}
        return pa.schema([pa.field(name, types[kind], metadata={b"synthloom": b"json"} if kind == "json" else None)
                          for name, kind in self.kinds.items()])


def describe(kind: str) -> str:
    return {"str": "text", "int": "a number", "float": "a number", "bool": "true/false", "json": "a list or object"}[kind]


def text_batches(path: Path, fmt: str, schema: Any) -> Iterator[tuple[Any, list[str]]]:
    """(record batch with `__row`, each row's location) of a text-format file, in the settled schema."""
    import pyarrow as pa

    names = schema.names
    json_columns = {f.name for f in schema if f.metadata and f.metadata.get(b"synthloom") == b"json"}
    rows: list[dict[str, Any]] = []
    places: list[str] = []
    position = 0

    def flush() -> Any:
        columns = {name: [r.get(name) for r in rows] for name in names}
        for name in json_columns:
            columns[name] = [None if v is None else orjson.dumps(v).decode() for v in columns[name]]
        arrays = [pa.array(columns[name], type=schema.field(name).type) for name in names]
        arrays.append(pa.array(range(position - len(rows), position), type=pa.int64()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema.append(pa.field(ROW, pa.int64())))

    for where, row in iter_text_rows(path, fmt):
        rows.append(row)
        places.append(where)
        position += 1
        if len(rows) >= OUT_ROWS * 4:
            yield flush(), places
            rows, places = [], []
    if rows:
        yield flush(), places


def arrow_batches(batches: Iterator[Any]) -> Iterator[tuple[Any, None]]:
    """Batches of an Arrow source with `__row` added and types made plain (dictionaries decoded)."""
    import pyarrow as pa

    position = 0
    for batch in batches:
        arrays, fields = [], []
        for field, array in zip(batch.schema, batch.columns):
            if pa.types.is_dictionary(field.type):
                array = array.dictionary_decode()
                field = pa.field(field.name, array.type)
            if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type) or pa.types.is_fixed_size_binary(field.type):
                raise DataError("holds bytes, not text or numbers", "", field.name)
            if pa.types.is_large_string(field.type):
                array = array.cast(pa.string())
                field = pa.field(field.name, pa.string())
            arrays.append(array)
            fields.append(field)
        arrays.append(pa.array(range(position, position + batch.num_rows), type=pa.int64()))
        fields.append(pa.field(ROW, pa.int64()))
        position += batch.num_rows
        yield pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)), None


def plain_field(field: Any) -> Any:
    """The field as written: dictionaries decoded, large strings as strings (what arrow_batches makes)."""
    import pyarrow as pa

    kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    if pa.types.is_large_string(kind):
        kind = pa.string()
    return pa.field(field.name, kind, metadata=field.metadata)


def check_arrow_schema(schema: Any) -> None:
    import pyarrow as pa

    if len(schema) > MAX_COLUMNS:
        raise DataError(f"has {len(schema):,} columns, over the {MAX_COLUMNS:,} limit")
    for field in schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataError("holds bytes, not text or numbers", "", field.name)


def convert_source(path: Path, fmt: str, options: TableOptions, out: Path) -> dict[str, Any]:
    """Convert the file (or `datasets` directory) at `path` into the IPC file `out`; its meta."""
    files = source_files(path, fmt, options.split)
    if fmt in ("jsonl", "json", "csv", "tsv"):
        types = ColumnTypes()
        count = 0
        for where, row in iter_text_rows(path, fmt):
            types.observe(where, row)
            count += 1
        if not count:
            raise DataError("is empty (no rows)")
        schema = types.schema()
        batches: Iterator[tuple[Any, list[str] | None]] = text_batches(path, fmt, schema)
    else:
        schema = arrow_schema(files, fmt)
        check_arrow_schema(schema)
        batches = arrow_batches(iter_arrow_batches(files, fmt))
    meta = write_table(batches, schema, options, out)
    meta["content"] = read_all_bytes_hash(files)
    meta["stat"] = file_stats(files)
    return meta


def convert_arrow(table: Any, options: TableOptions, out: Path, content: str) -> dict[str, Any]:
    """Convert an in-memory pyarrow Table (from `data=`) into the IPC file `out`; its meta."""
    check_arrow_schema(table.schema)
    meta = write_table(arrow_batches(iter(table.to_batches(max_chunksize=OUT_ROWS * 4))), table.schema, options, out)
    meta["content"] = content
    return meta


def file_stats(files: list[Path]) -> list[list[Any]]:
    stats = []
    for path in files:
        st = os.stat(path)
        stats.append([str(path), st.st_size, st.st_mtime_ns])
    return stats


def selected_columns(schema: Any, options: TableOptions) -> list[str]:
    names = [n for n in schema.names if n != ROW]
    wanted = [options.column] if options.column else list(options.columns or names)
    for name in wanted:
        if name not in names:
            raise UnknownColumn(name, names)
    return wanted


def write_table(batches: Iterator[tuple[Any, list[str] | None]], schema: Any, options: TableOptions, out: Path) -> dict[str, Any]:
    """Filter, select, check and write the batches; the meta of what was written."""
    import pyarrow as pa

    wanted = selected_columns(schema, options)
    try:
        condition = compile_where(options.where, schema) if options.where is not None else None
    except WhereError as exc:
        raise DataError(f"where: {exc}") from None
    out_schema = pa.schema([plain_field(schema.field(n)) for n in wanted] + [pa.field(ROW, pa.int64())])
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    batch_rows: list[int] = []
    total = 0
    try:
        with pa.ipc.new_file(str(tmp), out_schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
            for batch, places in batches:
                table = pa.Table.from_batches([batch])
                if condition is not None:
                    try:
                        table = table.filter(condition)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise DataError(f"where: {first_line(exc)}") from None
                table = table.select([*wanted, ROW]).replace_schema_metadata(None)
                if not table.schema.equals(out_schema):
                    table = table.cast(out_schema)
                check_cells(table, wanted, places, batch)
                for piece in pieces(table):
                    writer.write_batch(piece)
                    batch_rows.append(piece.num_rows)
                    total += piece.num_rows
        if not total:
            raise DataError(f"no row matches where: {options.where}" if options.where is not None else "is empty (no rows)")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    json_columns = [f.name for f in out_schema if f.metadata and f.metadata.get(b"synthloom") == b"json"]
    return {"version": VERSION, "rows": total, "batches": batch_rows, "columns": wanted, "json_columns": json_columns,
            "options": options.key()}


def check_cells(table: Any, wanted: list[str], places: list[str] | None, batch: Any) -> None:
    """No null cell in a selected column, no text cell over the limit: bad input named by row and column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in wanted:
        column = table.column(name)
        if column.null_count:
            i = pc.index(pc.is_null(column), True).as_py()
            raise DataError("is empty (null): fill it, leave the column out (`columns:`), or skip such rows with "
                            f"`where: \"{name} is not null\"`", locate(table, i, places, batch), name)
        if pa.types.is_string(column.type) and len(column):
            lengths = pc.utf8_length(column)
            if pc.max(lengths).as_py() > MAX_CELL_CHARS:
                i = pc.index(pc.greater(lengths, MAX_CELL_CHARS), True).as_py()
                raise DataError(f"has a cell of {lengths[i].as_py():,} characters, over the {MAX_CELL_CHARS:,} limit",
                                locate(table, i, places, batch), name)


def locate(table: Any, i: int, places: list[str] | None, batch: Any) -> str:
    """Where row i of a filtered table is in the source: its line, or its row number."""
    position = table.column(ROW)[i].as_py()
    if places is None:
        return f"row {position + 1}"
    first = batch.column(batch.num_columns - 1)[0].as_py()
    return str(places[position - first])


def pieces(table: Any) -> Iterator[Any]:
    """The table as record batches of at most OUT_ROWS rows and about OUT_BYTES each."""
    if not table.num_rows:
        return
    per_row = max(1, table.nbytes // table.num_rows)
    size = max(1, min(OUT_ROWS, OUT_BYTES // per_row))
    yield from table.combine_chunks().to_batches(max_chunksize=size)
