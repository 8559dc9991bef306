"""JSON Lines output, written atomically (temp file, then rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

__all__ = ["write_jsonl", "write_jsonl_lines"]


def write_jsonl_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Write already-encoded JSON objects, one per line; returns the count.

    Readers never see a half-written file: it is written beside the target, then renamed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line)
            out.write("\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return count


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts as JSON Lines; returns the count."""
    return write_jsonl_lines(path, (json.dumps(row, ensure_ascii=False) for row in rows))
