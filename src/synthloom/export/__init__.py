"""Dataset writers, and the training formats (sft, dpo, kto, alpaca, sharegpt).

Names are imported on first use, so reading the format names does not load pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .formats import FORMATS, FieldMap, SkipRow, convert_row, parse_label, to_alpaca, to_dpo, to_kto, to_sft, to_sharegpt
    from .jsonl import write_jsonl, write_jsonl_lines
    from .parquet import jsonl_to_parquet, write_parquet
    from .training_files import ExportResult, export_dataset

__all__ = [
    "export_dataset",
    "ExportResult",
    "write_jsonl", "write_jsonl_lines", "write_parquet", "jsonl_to_parquet",
    "FORMATS", "FieldMap", "SkipRow", "convert_row", "parse_label",
    "to_sft", "to_dpo", "to_kto", "to_alpaca", "to_sharegpt",
]

__getattr__, __dir__ = lazy_attributes(__name__, {
    **dict.fromkeys(("FORMATS", "FieldMap", "SkipRow", "convert_row", "parse_label", "to_sft", "to_dpo", "to_kto",
                     "to_alpaca", "to_sharegpt"), ".formats"),
    **dict.fromkeys(("export_dataset", "ExportResult"), ".training_files"),
    **dict.fromkeys(("write_jsonl", "write_jsonl_lines"), ".jsonl"),
    **dict.fromkeys(("write_parquet", "jsonl_to_parquet"), ".parquet"),
})
