"""In-memory data for the Python API's `data=`: pandas/polars DataFrames, `datasets.Dataset`,
pyarrow Tables and lists of dicts, each made a pyarrow Table (no library imported unless given)."""

from __future__ import annotations

from typing import Any

from .readers import DataError

__all__ = ["to_arrow"]


def to_arrow(data: Any) -> Any:
    """A pyarrow Table of `data`; DataError for a type this does not take."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars" and hasattr(data, "to_arrow"):
        return data.to_arrow()
    if module == "datasets" and hasattr(data, "data") and hasattr(data, "features"):
        return data.with_format(None).data.table  # the Dataset's own (memory-mapped) Arrow table
    if isinstance(data, (list, tuple)):
        if not data:
            raise DataError("is an empty list (no rows)")
        bad = next((i for i, row in enumerate(data) if not isinstance(row, dict)), None)
        if bad is not None:
            raise DataError(f"is a list whose item {bad} is a {type(data[bad]).__name__}, not a dict", f"row {bad + 1}")
        try:
            return pa.Table.from_pylist(list(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"has a column that mixes types ({str(exc).splitlines()[0]})") from None
    raise DataError(f"is a {type(data).__module__}.{type(data).__name__}; data= takes a pandas or polars DataFrame, "
                    "a datasets.Dataset, a pyarrow Table or a list of dicts")
