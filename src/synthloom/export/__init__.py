"""Dataset writers."""

from .jsonl import write_jsonl, write_jsonl_lines
from .parquet import jsonl_to_parquet, write_parquet

__all__ = ["write_jsonl", "write_jsonl_lines", "write_parquet", "jsonl_to_parquet"]
