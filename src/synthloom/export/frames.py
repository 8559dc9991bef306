"""A run's kept rows as a pandas DataFrame or a `datasets.Dataset` (each imported only when asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, missing_extra

__all__ = ["dataset_table", "to_pandas", "to_datasets"]


def dataset_table(out: Path) -> Any:
    """OUT/dataset.parquet as a pyarrow Table: the kept rows, in record order."""
    import pyarrow.parquet as pq

    path = Path(out) / "dataset.parquet"
    if not path.is_file():
        raise ConfigError(f"{path}: no dataset here (run the recipe first)")
    return pq.read_table(path)


def to_pandas(out: Path) -> Any:
    try:
        import pandas  # noqa: F401 - pyarrow's to_pandas needs it
    except ImportError as exc:
        raise missing_extra("data", exc) from None
    return dataset_table(out).to_pandas()


def to_datasets(out: Path) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise missing_extra("data", exc) from None
    return datasets.Dataset(dataset_table(out))
