"""Data files as entity lists: readers by extension, streamed into indexed Arrow IPC files."""

from .cache import TableCache, arrow_content_hash
from .convert import MAX_CELL_CHARS, TableOptions
from .frames import to_arrow
from .readers import DataError, format_of
from .table import Table, TableRows
from .where import WhereError, compile_where

__all__ = ["TableCache", "TableOptions", "Table", "TableRows", "DataError", "WhereError", "format_of", "to_arrow",
           "compile_where", "arrow_content_hash", "MAX_CELL_CHARS"]
