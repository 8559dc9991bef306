"""Parquet output via pyarrow, streamed in batches, written atomically."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

__all__ = ["write_parquet", "jsonl_to_parquet"]


def infer_schema(batch: list[dict[str, Any]]) -> pa.Schema:
    """The batch's schema, with all-null columns typed as strings."""
    return null_as_string(pa.Table.from_pylist(batch).schema)


def null_as_string(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def write_empty(path: Path) -> None:
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), path)


def write_parquet(path: str | Path, rows: Iterable[dict[str, Any]], batch_size: int = 10_000) -> int:
    """Write rows to a Parquet file; an empty input still gives a valid (empty) file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    iterator = iter(rows)
    count = 0
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
    os.replace(tmp, path)
    return count


def jsonl_to_parquet(src: str | Path, dst: str | Path, block_size: int = 16 << 20) -> None:
    """Convert a JSON Lines file with pyarrow's streaming C++ reader (no Python per row).

    The first row fixes the column types, so a later null or a column that starts empty
    does not change them mid-file.
    """
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    with open(src, "rb") as handle:
        first = handle.readline()
    if not first.strip():
        write_empty(tmp)
    else:
        # pyarrow's own reader on the first line: Table.from_pylist would import pandas (0.2 s)
        schema = null_as_string(pa_json.read_json(io.BytesIO(first)).schema)
        options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        reader = pa_json.open_json(src, read_options=pa_json.ReadOptions(block_size=block_size), parse_options=options)
        with pq.ParquetWriter(tmp, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    os.replace(tmp, dst)
