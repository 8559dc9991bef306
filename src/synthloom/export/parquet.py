"""Parquet output via pyarrow, streamed in batches, written atomically."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from ..files import atomic_write

__all__ = ["write_parquet", "jsonl_to_parquet", "convert_jsonl_to"]


def infer_schema(batch: list[dict[str, Any]]) -> pa.Schema:
    """The batch's schema, with all-null columns typed as strings and empty objects left out."""
    return null_as_string(pa.Table.from_pylist(batch).schema)


def null_as_string(schema: pa.Schema) -> pa.Schema:
    """All-null columns typed as strings; fields that only ever held `{}` (a struct with no field,
    which Parquet cannot store) left out, at any depth: dataset.jsonl keeps them."""
    fields = []
    for f in schema:
        kind = pa.string() if pa.types.is_null(f.type) else without_empty_structs(f.type)
        if kind is not None:
            fields.append(pa.field(f.name, kind, f.nullable, f.metadata))
    return pa.schema(fields)


def without_empty_structs(kind: pa.DataType) -> pa.DataType | None:
    """`kind` without struct fields that have no fields of their own; None if nothing is left."""
    if pa.types.is_struct(kind):
        fields = [(f, without_empty_structs(f.type)) for f in kind]
        kept = [pa.field(f.name, sub, f.nullable, f.metadata) for f, sub in fields if sub is not None]
        return pa.struct(kept) if kept else None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = without_empty_structs(kind.value_type)
        return None if item is None else (pa.list_(item) if pa.types.is_list(kind) else pa.large_list(item))
    return kind


def write_empty(path: Path) -> None:
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), path)


def write_parquet(path: str | Path, rows: Iterable[dict[str, Any]], batch_size: int = 10_000) -> int:
    """Write rows to a Parquet file; an empty input still gives a valid (empty) file."""
    iterator = iter(rows)
    count = 0
    with atomic_write(path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            while batch := list(itertools.islice(iterator, batch_size)):
                if writer is None:
                    writer = pq.ParquetWriter(tmp, infer_schema(batch))
                writer.write_table(pa.Table.from_pylist(batch, schema=writer.schema))
                count += len(batch)
            if writer is None:
                write_empty(tmp)
        finally:
            if writer is not None:
                writer.close()
    return count


def line_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file in pieces of about `size` bytes, each ending at a line end."""
    with open(path, "rb") as handle:
        rest = b""
        while block := handle.read(size):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield block[:cut]
        if rest.strip():
            yield rest


def jsonl_to_parquet(src: str | Path, dst: str | Path, block_size: int = 4 << 20) -> None:
    """Convert a JSON Lines file to Parquet, written atomically (see `convert_jsonl_to`)."""
    with atomic_write(dst) as tmp:
        convert_jsonl_to(Path(src), tmp, block_size)


def convert_jsonl_to(src: Path, dst: Path, block_size: int = 4 << 20) -> None:
    """Convert a JSON Lines file to exactly `dst`: typed columns when every row agrees on each
    field's JSON type (`convert_typed`), else every column as text (`convert_as_text`)."""
    try:
        convert_typed(src, dst, block_size)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        convert_as_text(src, dst)


def convert_as_text(src: Path, dst: Path, batch_size: int = 10_000) -> None:
    """Every column a string column (text as is, other values as their JSON): for a dataset whose
    rows disagree about a field's type (a number in one, a string in another). Two passes, flat memory."""
    columns: dict[str, None] = {}
    with open(src, "rb") as handle:
        for line in handle:
            if line.strip():
                columns.update(dict.fromkeys(orjson.loads(line)))
    schema = pa.schema([pa.field(name, pa.string()) for name in columns])

    def text(value: Any) -> str | None:
        return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()

    with open(src, "rb") as handle, pq.ParquetWriter(dst, schema) as writer:
        rows = (orjson.loads(line) for line in handle if line.strip())
        while batch := list(itertools.islice(rows, batch_size)):
            writer.write_table(pa.table({name: [text(row.get(name)) for row in batch] for name in columns}, schema=schema))


def convert_typed(src: Path, dst: Path, block_size: int = 4 << 20) -> None:
    """Convert a JSON Lines file to exactly `dst` with pyarrow's C++ JSON parser (no Python per
    row), a few MB at a time: memory stays flat however long the file (pyarrow's own streaming
    reader grows).

    The first row fixes the column types, so a later null or a column that starts empty
    does not change them mid-file; the columns are those of the first few MB of rows.
    """
    with open(src, "rb") as handle:
        first = handle.readline()
    if not first.strip():
        write_empty(dst)
        return
    # pyarrow's own reader on the first line: Table.from_pylist would import pandas (0.2 s)
    schema = null_as_string(pa_json.read_json(io.BytesIO(first)).schema)
    chunks = line_chunks(src, block_size)
    head = next(chunks)
    # the first chunk may add columns the first row lacks; types stay the first row's
    infer = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    table = pa_json.read_json(io.BytesIO(head), parse_options=infer)
    schema = null_as_string(table.schema)
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    if len(schema) != len(table.schema) or not all(
            a.type.equals(b.type) or pa.types.is_null(b.type) for a, b in zip(schema, table.schema)):
        table = pa_json.read_json(io.BytesIO(head), parse_options=options)  # without the fields Parquet cannot hold
    with pq.ParquetWriter(dst, schema) as writer:
        writer.write_table(table.cast(schema))
        for chunk in chunks:
            writer.write_table(pa_json.read_json(io.BytesIO(chunk), parse_options=options))
