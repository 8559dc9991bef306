"""Dataset writers."""

from .jsonl import write_jsonl
from .parquet import write_parquet

__all__ = ["write_jsonl", "write_parquet"]
