"""Where converted tables are kept, and when a conversion is reused.

A run keeps them in OUT/data (its workers, on Ray, read them there); `validate` and tests in a
temporary directory. A conversion is reused while its source files keep their size and
modification time and the recipe selects the same rows and columns; otherwise it is rebuilt,
and its content hash (blake2b of the source bytes) decides whether the recipe's records change.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable

from .convert import VERSION, TableOptions, convert_arrow, convert_source, file_stats
from .readers import source_files
from .table import Table

__all__ = ["TableCache", "arrow_content_hash"]


class TableCache:
    """Converted tables in `directory` (default: a temporary one, removed with this object); a
    callable gives the directory when a table is first converted (a run claims its OUT then)."""

    def __init__(self, directory: str | Path | Callable[[], Path] | None = None):
        self._claim = directory if callable(directory) else None
        self._directory = Path(directory) if directory is not None and self._claim is None else None

    @property
    def directory(self) -> Path:
        if self._claim is not None:
            self._directory, self._claim = Path(self._claim()), None
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="synthloom-tables-"))
            weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._directory.mkdir(parents=True, exist_ok=True)
        return self._directory

    def paths(self, stem: str, key: str) -> tuple[Path, Path]:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
        base = self.directory / f"{stem[:40]}-{digest}"
        return base.with_suffix(".arrow"), base.with_suffix(".json")

    def open_file(self, path: Path, fmt: str, options: TableOptions, name: str) -> Table:
        """The table of the file at `path`, converted now or reused."""
        arrow, meta_path = self.paths(path.stem or "data", f"{path.resolve()}\0{options.key()}")
        meta = read_meta(meta_path)
        if not (meta and arrow.is_file() and meta.get("version") == VERSION and meta.get("options") == options.key()
                and meta.get("stat") == file_stats(source_files(path, fmt, options.split))):
            meta = convert_source(path, fmt, options, arrow)
            write_meta(meta_path, meta)
        return self.table(arrow, meta, name)

    def open_arrow(self, data: Any, options: TableOptions, name: str) -> Table:
        """The table of in-memory Arrow data (the Python API's `data=`), keyed by its content."""
        content = arrow_content_hash(data)
        arrow, meta_path = self.paths(name, f"memory\0{content}\0{options.key()}")
        meta = read_meta(meta_path)
        if not (meta and arrow.is_file() and meta.get("version") == VERSION):
            meta = convert_arrow(data, options, arrow, content)
            write_meta(meta_path, meta)
        return self.table(arrow, meta, name)

    def table(self, arrow: Path, meta: dict[str, Any], name: str) -> Table:
        table = Table(arrow, meta, name)
        table.owner = self  # type: ignore[attr-defined]  # keeps a temporary directory alive while the table is used
        return table


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    tmp.replace(path)


class HashSink:
    """A write-only file that only hashes what is written to it."""

    def __init__(self) -> None:
        self.digest = hashlib.blake2b(digest_size=16)
        self.closed = False

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True


def arrow_content_hash(table: Any) -> str:
    """blake2b of the table's Arrow IPC stream: its schema and every value."""
    import pyarrow as pa

    sink = HashSink()
    with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), table.schema) as writer:
        for batch in table.to_batches(max_chunksize=65536):
            writer.write_batch(batch)
    return sink.digest.hexdigest()

