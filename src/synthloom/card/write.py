"""Writing a dataset card: into a run directory (at export, by `synthloom card`, after `synthloom
report`) or beside an exported copy of the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .facts import RunFiles, gather_facts
from .render import render_card

__all__ = ["CARD", "write_card_to", "write_run_card", "run_card_text", "read_summary"]

CARD = "README.md"


def write_card_to(path: Path, files: RunFiles, summary: dict[str, Any], data_files: str = "dataset.parquet",
                  repo: str | None = None) -> None:
    """The card for the data described by `files` and `summary` (run.json's content), written to `path`.
    An export calls this: no language detection (py3langid's model takes seconds to load); `synthloom card`,
    `report` and the Hub layout detect it."""
    text = render_card(gather_facts(files, summary, detect_language=False), data_files, repo)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def read_summary(run: Path) -> dict[str, Any]:
    """run.json of a finished run; a one-line error for anything else."""
    if not run.is_dir():
        raise ConfigError(f"{run}: no such run directory")
    path = run / "run.json"
    if not path.is_file() or not (run / "dataset.jsonl").is_file():
        raise ConfigError(f"{run}: no run.json and dataset.jsonl (is this the --out directory of a finished `synthloom run`?)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise ConfigError(f"{path}: not a run summary (a JSON object)")
    return summary


def run_card_text(run: Path, data_files: str = "dataset.parquet", repo: str | None = None) -> str:
    """The card of a run directory, from its files."""
    return render_card(gather_facts(RunFiles.of(run), read_summary(run)), data_files, repo)


def write_run_card(run: Path) -> Path:
    """RUN/README.md, replaced atomically (a reader never sees half a card)."""
    from ..files import write_text_atomic

    target = run / CARD
    write_text_atomic(target, run_card_text(run))
    return target
