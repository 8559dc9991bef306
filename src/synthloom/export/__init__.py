"""Dataset writers, and the training formats (sft, dpo, kto, alpaca, sharegpt)."""

from .formats import FORMATS, FieldMap, SkipRow, convert_row, parse_label, to_alpaca, to_dpo, to_kto, to_sft, to_sharegpt
from .dataset import ExportResult, export_dataset
from .jsonl import write_jsonl, write_jsonl_lines
from .parquet import jsonl_to_parquet, write_parquet

__all__ = [
    "export_dataset",
    "ExportResult",
    "write_jsonl", "write_jsonl_lines", "write_parquet", "jsonl_to_parquet",
    "FORMATS", "FieldMap", "SkipRow", "convert_row", "parse_label",
    "to_sft", "to_dpo", "to_kto", "to_alpaca", "to_sharegpt",
]
