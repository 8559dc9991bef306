"""A run's dataset in the Hugging Face Hub's layout: README.md (the card) beside
data/train-00000-of-00001.parquet and recipe.yaml. `synthloom export --format hf --to DIR` writes
it; `synthloom push` uploads it. `datasets.load_dataset(DIR)` reads it through the card's configs."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from ..errors import ConfigError
from .facts import RunFiles, gather_facts
from .render import render_card
from .write import CARD, read_summary

__all__ = ["DATA_FILE", "write_hub_dir", "export_hub_dir"]

DATA_FILE = "data/train-00000-of-00001.parquet"  # the Hub's own naming for a one-shard train split


def write_hub_dir(run: Path, directory: Path, repo: str | None = None) -> int:
    """Fill `directory` (empty or new) with the card, the Parquet file and the recipe; the number of records."""
    summary = read_summary(run)
    parquet = run / "dataset.parquet"
    if not parquet.is_file():
        raise ConfigError(f"{parquet}: not found (re-run the same `synthloom run` command to rewrite the run's files)")
    (directory / "data").mkdir(parents=True, exist_ok=True)
    if not write_reviewed_parquet(run, parquet, directory / DATA_FILE):
        shutil.copyfile(parquet, directory / DATA_FILE)
    facts = gather_facts(dataclasses.replace(RunFiles.of(run), parquet=directory / DATA_FILE), summary)
    if (run / "recipe.yaml").is_file():
        shutil.copyfile(run / "recipe.yaml", directory / "recipe.yaml")
    (directory / CARD).write_text(render_card(facts, DATA_FILE, repo), encoding="utf-8")
    return facts.kept


def write_reviewed_parquet(run: Path, parquet: Path, to: Path) -> bool:
    """The rows with people's decisions from `synthloom review` applied (rejected left out, relabels and
    edits in, restored records at the end), streamed; False when nobody decided anything."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..review.overlay import ReviewOverlay

    overlay = ReviewOverlay.load(run)
    if not overlay:
        return False
    source = pq.ParquetFile(parquet)
    schema = source.schema_arrow
    seen: set[str] = set()
    with pq.ParquetWriter(to, schema) as writer:
        for batch in source.iter_batches(batch_size=10_000):
            rows = batch.to_pylist()
            seen.update(row.get("id") for row in rows)
            kept = [applied for applied in map(overlay.apply, rows) if applied is not None]
            writer.write_table(pa.Table.from_pylist(kept, schema=schema))
        restored = [found.edited_row() for found in overlay.restored(seen)]
        if restored:
            writer.write_table(pa.Table.from_pylist(restored, schema=schema))
    return True


def export_hub_dir(run: Path, to: Path) -> int:
    """`export --format hf`: the Hub layout at `to`, built beside it and renamed into place."""
    from ..files import describe_os_error, move_into_place, remove_quietly, remove_stale_temps, temp_name

    if to.exists() and not to.is_dir():
        raise ConfigError(f"--to {to}: exists and is not a directory (--format hf writes a directory)")
    if to.is_dir() and any(to.iterdir()) and not (to / CARD).is_file():
        raise ConfigError(f"--to {to}: not empty and not an earlier --format hf export; not replacing it")
    tmp = temp_name(to, unique=True)
    remove_stale_temps(to)
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
        records = write_hub_dir(run, tmp)
        move_into_place(tmp, to)
    except OSError as exc:
        raise ConfigError(f"--to {to}: cannot write ({describe_os_error(exc)}); nothing was written there") from None
    finally:
        remove_quietly(tmp)
    return records
