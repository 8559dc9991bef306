"""Parquet output via pyarrow, streamed in batches, written atomically."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["write_parquet"]


def infer_schema(batch: list[dict[str, Any]]) -> pa.Schema:
    """The first batch's schema, with all-null columns typed as strings."""
    schema = pa.Table.from_pylist(batch).schema
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema])


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
            pq.write_table(pa.table({"id": pa.array([], pa.string())}), tmp)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)
    return count
