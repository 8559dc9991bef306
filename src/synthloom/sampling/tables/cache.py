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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .convert import VERSION, TableOptions, convert_arrow, convert_source, file_stats
from .readers import source_files
from .table import Table

__all__ = ["TableCache", "arrow_content_hash"]


class TableCache:
    """Converted tables in `directory` (default: a temporary one, removed with this object).

    With `keep` (a run's OUT/data), conversions already there are reused, new ones are made in
    the temporary directory, and `commit()` moves them there, after calling `claim` (which takes
    the run's lock), once the recipe has passed every check: a recipe error leaves nothing
    behind in the run directory.
    """

    def __init__(self, directory: str | Path | None = None, keep: str | Path | None = None,
                 claim: Callable[[], Any] | None = None):
        self._directory = Path(directory) if directory is not None else None
        self.kept = Path(keep) if keep is not None else None
        self.claim = claim
        self.pending: list[Table] = []

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="synthloom-tables-"))
            weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._directory.mkdir(parents=True, exist_ok=True)
        return self._directory

    def paths(self, stem: str, key: str, where: Path | None = None) -> tuple[Path, Path]:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
        base = (where or self.directory) / f"{stem[:40]}-{digest}"
        return base.with_suffix(".arrow"), base.with_suffix(".json")

    def lookup(self, stem: str, key: str, valid: Callable[[dict[str, Any]], bool]) -> tuple[Path, Path, dict[str, Any] | None]:
        """Where the conversion goes, and its meta when a valid one is already there (kept or here)."""
        for where in ([self.kept] if self.kept is not None else []) + [None]:
            arrow, meta_path = self.paths(stem, key, where)
            meta = read_meta(meta_path) if where is None or where.is_dir() else None
            if meta and arrow.is_file() and meta.get("version") == VERSION and valid(meta):
                return arrow, meta_path, meta
        return (*self.paths(stem, key), None)

    def open_file(self, path: Path, fmt: str, options: TableOptions, name: str) -> Table:
        """The table of the file at `path`, converted now or reused."""
        stat = file_stats(source_files(path, fmt, options.split))
        arrow, meta_path, meta = self.lookup(path.stem or "data", f"{path.resolve()}\0{options.key()}",
                                             lambda m: m.get("options") == options.key() and m.get("stat") == stat)
        return self.table(arrow, meta, name) if meta else self.convert(arrow, meta_path, name,
                                                                        lambda: convert_source(path, fmt, options, arrow))

    def open_arrow(self, data: Any, options: TableOptions, name: str) -> Table:
        """The table of in-memory Arrow data (the Python API's `data=`), keyed by its content."""
        content = arrow_content_hash(data)
        arrow, meta_path, meta = self.lookup(name, f"memory\0{content}\0{options.key()}", lambda m: True)
        return self.table(arrow, meta, name) if meta else self.convert(arrow, meta_path, name,
                                                                        lambda: convert_arrow(data, options, arrow, content))

    def convert(self, arrow: Path, meta_path: Path, name: str, make: Callable[[], dict[str, Any]]) -> Table:
        meta = make()
        write_meta(meta_path, meta)
        table = self.table(arrow, meta, name)
        if self.kept is not None:
            self.pending.append(table)
        return table

    def commit(self) -> None:
        """Move the tables converted in this pass into the kept directory (claimed now)."""
        if not self.pending:
            return
        if self.claim is not None:
            self.claim()
        target = self.kept or self.directory
        target.mkdir(parents=True, exist_ok=True)
        for table in self.pending:
            meta_path = table.path.with_suffix(".json")
            moved = target / table.path.name
            shutil.move(str(table.path), str(moved))
            shutil.move(str(meta_path), str(target / meta_path.name))
            table.move_to(moved)
        self.pending = []

    def table(self, arrow: Path, meta: dict[str, Any], name: str) -> Table:
        table = Table(arrow, meta, name)
        table.owner = self  # type: ignore[attr-defined]  # keeps a temporary directory alive while the table is used
        return table


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


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

