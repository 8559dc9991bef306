"""JSON Lines output, written atomically (temp file, then rename)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..files import atomic_write

__all__ = ["write_jsonl", "write_jsonl_lines", "write_lines_to"]


def write_lines_to(path: Path, lines: Iterable[str]) -> int:
    """Write already-encoded JSON objects, one per line, to exactly `path`; returns the count.

    A generator of lines is closed however the write ends: one left open on a failed write would
    be closed by the garbage collector later, after its store is closed, and complain on stderr.
    """
    count = 0
    try:
        with open(path, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
                count += 1
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    return count


def write_jsonl_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Write already-encoded JSON objects, one per line; returns the count.

    Readers never see a half-written file: it is written beside the target, then renamed; a full
    disk or a read-only directory is a WriteError naming `path`, and leaves no temp file.
    """
    with atomic_write(path) as tmp:
        return write_lines_to(tmp, lines)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts as JSON Lines; returns the count."""
    return write_jsonl_lines(path, (json.dumps(row, ensure_ascii=False) for row in rows))
