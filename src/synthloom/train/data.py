"""Labelled examples from a run directory (the label is a sampled slot) or a JSONL/CSV/Parquet file."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["Examples", "load_examples", "reload_examples"]


@dataclass
class Examples:
    """Texts with their labels, and where they came from (for the model's metadata)."""

    texts: list[str]
    labels: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def label_set(self) -> list[str]:
        return sorted(set(self.labels))


def load_examples(path: str | Path, text_field: str, label_field: str,
                  label_map: dict[str, str] | None = None, reviewed_only: bool = False) -> Examples:
    """Read (text, label) pairs; `label_map` renames labels (real data naming classes differently).

    From a run directory, a person's review decisions apply (rejections, relabels, edits);
    `reviewed_only` keeps just the records a person checked and kept.
    """
    path = Path(path)
    overlay = None
    # absolute, so `synthloom evaluate --learning-curve` can reload it from any working directory
    source: dict[str, Any] = {"path": str(path.resolve())}
    if path.is_dir():
        run_json = path / "run.json"
        if run_json.is_file():
            summary = json.loads(run_json.read_text(encoding="utf-8"))
            source.update(run=str(path), recipe=summary.get("recipe"), recipe_fingerprint=summary.get("recipe_fingerprint"),
                          backend=summary.get("backend"))
        from ..review.overlay import ReviewOverlay

        overlay = ReviewOverlay.load(path)
        path = path / "dataset.jsonl"
    elif reviewed_only:
        raise ConfigError(f"--reviewed-only: {path} is not a run directory (decisions are kept in a run's store)")
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    rows = read_rows(path)
    if overlay is not None:
        rows = reviewed_rows(rows, overlay, reviewed_only)
        if reviewed_only and not rows:
            raise ConfigError(f"--reviewed-only: nobody has accepted a record of {path.parent} yet (synthloom review)")
    texts, labels = [], []
    for number, row in rows:
        text, label = value(row, text_field), value(row, label_field)
        if text is None or label is None:
            missing = text_field if text is None else label_field
            raise ConfigError(f"{path}:{number}: the record has no field {missing!r}")
        label = str(label)
        texts.append(str(text))
        labels.append(label_map.get(label, label) if label_map else label)
    if len(set(labels)) < 2:
        raise ConfigError(f"{path}: needs at least two classes in {label_field!r}, found {sorted(set(labels)) or 'none'}")
    return Examples(texts, labels, source | {"rows": len(texts), "text_field": text_field, "label_field": label_field,
                                             "label_map": label_map or None,
                                             **({"reviewed_only": True} if reviewed_only else {})})


def reviewed_rows(rows: list[tuple[int, dict[str, Any]]], overlay: Any, reviewed_only: bool) -> list[tuple[int, dict[str, Any]]]:
    """The rows with a person's decisions applied (restored records numbered after the file's lines)."""
    numbers = {row.get("id"): number for number, row in rows}
    after = len(rows) + 1
    result = []
    for row in overlay.rows(row for _, row in rows):
        if reviewed_only and not overlay.reviewed(row.get("id")):
            continue
        number = numbers.get(row.get("id"))
        if number is None:
            number, after = after, after + 1
        result.append((number, row))
    return result


def reload_examples(source: dict[str, Any]) -> Examples:
    """The examples again from the `source` they recorded (a model's `trained_on`)."""
    if not all(source.get(key) for key in ("path", "text_field", "label_field")):
        raise ConfigError("the model's meta.json does not say where its training data is (retrain it with this version)")
    return load_examples(source["path"], source["text_field"], source["label_field"], source.get("label_map"),
                         bool(source.get("reviewed_only")))


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row) for .jsonl, .csv and .parquet files."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:
                return [(i + 2, row) for i, row in enumerate(csv.DictReader(handle))]
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return [(i + 1, row) for i, row in enumerate(pq.read_table(path).to_pylist())]
        rows = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    rows.append((number, json.loads(line)))
        return rows
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for a broken file
        raise ConfigError(f"{path}: not a readable {suffix or 'data'} file ({exc})") from None


def value(row: dict[str, Any], name: str) -> Any:
    """A field, `a.b` reading nested objects; None when absent or empty."""
    current: Any = row
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return None if current is None or current == "" else current
