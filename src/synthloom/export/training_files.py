"""Export a run directory into a training format: rows streamed from dataset.jsonl, prompts
recovered exactly from the run store, written atomically as JSON Lines, Parquet or a Hugging
Face datasets directory. The `synthloom export` command is a thin layer over `export_dataset`."""

from __future__ import annotations

import importlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..files import WriteError, atomic_write, remove_quietly, remove_stale_temps
from ..review.overlay import ReviewOverlay
from ..store import Store, StoreReader
from .formats import COLUMNS, FORMATS, FieldMap, SkipRow, convert_row

__all__ = ["export_dataset", "ExportResult"]

BATCH = 10_000
RUN_FILES = ("dataset.jsonl", "dataset.parquet", "lineage.jsonl", "rejected.jsonl", "run.json", Store.FILENAME)


@dataclass
class ExportResult:
    """What an export wrote, and how many dataset rows were skipped, by reason."""

    to: Path
    fmt: str
    rows: int = 0
    written: int = 0
    skipped: Counter = field(default_factory=Counter)
    roles: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        reasons = ", ".join(f"{reason} {count}" for reason, count in self.skipped.most_common())
        skipped = f"skipped {sum(self.skipped.values())}" + (f" ({reasons})" if reasons else "")
        return f"synthloom: {self.to}: wrote {self.written} {self.fmt} rows from {self.rows} records · {skipped}"


def export_dataset(run: str | Path, fmt: str, to: str | Path, fields: FieldMap = FieldMap(), *,
                   prompt_stage: str | None = None, keep_id: bool = True) -> ExportResult:
    """Convert OUT/dataset.jsonl to `fmt` at `to`, streaming; nothing is left at `to` on error."""
    run, to = Path(run), Path(to)
    dataset = run / "dataset.jsonl"
    if not run.is_dir():
        raise ConfigError(f"{run}: no such run directory")
    if not dataset.is_file():
        raise ConfigError(f"{dataset}: not found (is {run} a directory written by `synthloom run`?)")
    if fmt == "hf":  # the rows as they are, in the Hub's layout, with the dataset card (synthloom.card.hubdir)
        from ..card.hubdir import export_hub_dir

        records = export_hub_dir(run, to)
        return ExportResult(to, fmt, rows=records, written=records)
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: unknown format (known: {', '.join(FORMATS)}, hf)")
    container = check_target(to, run)
    result = ExportResult(to, fmt)
    first_call = fmt in ("dpo", "kto")
    overlay = ReviewOverlay.load(run)  # a person's rejections, restorations, relabels and edits
    prompts = ExactPrompts(run, prompt_stage, None if first_call else fields.response, overlay)
    try:
        rows = converted(overlay.rows(read_rows(dataset)), fmt, fields, prompts, keep_id, result)
        write_atomically(to, container, rows, arrow_schema(fmt, keep_id), lambda: check_result(result, dataset))
    finally:
        prompts.close()
    return result


def converted(rows: Iterable[dict[str, Any]], fmt: str, fields: FieldMap, prompts: ExactPrompts,
              keep_id: bool, result: ExportResult) -> Iterator[dict[str, Any]]:
    for row in rows:
        result.rows += 1
        result.keys = result.keys or [k for k in row if k != "id"]
        try:
            out = convert_row(fmt, row, fields, partial(prompts.messages, row.get("id"), row), keep_id)
        except SkipRow as skip:
            result.skipped[skip.reason] += 1
            if skip.role:
                result.roles[skip.reason] = skip.role
            continue
        result.written += len(out)
        yield from out


def check_result(result: ExportResult, dataset: Path) -> None:
    """Records but nothing written means the field mapping is wrong: say which flag, before any rename."""
    if result.written or not result.rows:
        return
    reason, _ = result.skipped.most_common(1)[0]
    role = result.roles.get(reason)
    flag = f" (--{role}-field)" if role else ""
    raise ConfigError(f"--format {result.fmt}: none of the {result.rows} records of {dataset} could be converted: "
                      f"{reason}{flag}; the records' fields: {', '.join(result.keys) or 'none'}")


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """dataset.jsonl, one row at a time."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                row = None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: not a JSON object")
            yield row


class ExactPrompts:
    """The messages really sent for a record: its call in lineage.jsonl, its request in the store.

    Opened on first use, so rows that carry their own prompt need neither file. lineage.jsonl is
    read in step with dataset.jsonl (same order); an id index is built only if they diverge.
    """

    def __init__(self, run: Path, stage: str | None, response_field: str | None,
                 overlay: ReviewOverlay | None = None):
        self.run, self.stage, self.response_field = run, stage, response_field
        self.overlay = overlay or ReviewOverlay()
        self.handle: Any = None
        self.store: StoreReader | None = None
        self.index: dict[str, int] | None = None
        self.outputs: dict[str, str] = {}

    def close(self) -> None:
        for resource in (self.handle, self.store):
            if resource is not None:
                resource.close()

    def open(self) -> StoreReader:
        for name in ("lineage.jsonl", Store.FILENAME):
            if not (self.run / name).is_file():
                raise ConfigError(f"{self.run / name}: not found; it holds the exact prompts (or pass --prompt-field)")
        self.handle = open(self.run / "lineage.jsonl", "rb")
        self.store = StoreReader(self.run / Store.FILENAME)
        recipe = orjson.loads(self.store.get_meta("recipe") or "{}")
        for stage in recipe.get("stages", []):
            self.outputs.setdefault(stage.get("output") or stage.get("name"), stage.get("name"))
        return self.store

    def calls(self, record_id: str, row: dict[str, Any] | None = None) -> list[dict[str, Any]] | None:
        """The record's calls from lineage.jsonl; refuses a lineage entry made for another version of the row
        (a re-run renaming its files into place while this export reads them)."""
        entry: dict[str, Any] | None = None
        if self.index is None:
            line = self.handle.readline()
            first = orjson.loads(line) if line.strip() else {}
            if first.get("id") == record_id:
                entry = first
        if entry is None:
            if self.index is None:
                self.index = self.build_index()
            offset = self.index.get(record_id)
            if offset is None:  # a record a person accepted after curation left it out
                return self.overlay.calls(record_id)
            self.handle.seek(offset)
            entry = orjson.loads(self.handle.readline())
        if row is not None and self.overlay.apply(entry.get("row") or {}) != row:
            raise ConfigError(f"{self.run}: dataset.jsonl and lineage.jsonl disagree about record {record_id} "
                              "(a run is rewriting this directory?); export again once it has finished")
        return entry.get("calls")

    def build_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        offset = 0
        self.handle.seek(0)
        for line in self.handle:
            if line.strip():
                index.setdefault(orjson.loads(line).get("id"), offset)
            offset += len(line)
        return index

    def messages(self, record_id: str | None, row: dict[str, Any] | None = None) -> list[dict[str, str]] | None:
        """The first request of the chosen stage (repair follow-ups are not the prompt)."""
        store = self.store if self.store is not None else self.open()
        calls = self.calls(record_id, row) if record_id is not None else None
        if not calls:
            return None
        stages = [call.get("stage") for call in calls]
        field = self.response_field
        stage = self.stage or (None if field is None else self.outputs.get(field) or field)
        if stage not in stages and self.stage is None:
            stage = stages[-1] if field else stages[0]
        call = next((c for c in calls if c.get("stage") == stage), None)
        request = store.get_request(call["request"]) if call else None
        return request.get("messages") if request else None


def check_target(to: Path, run: Path) -> str:
    """The container for `to` (jsonl, parquet, hf); refuses paths that would clobber the run or a non-dataset."""
    container = {".jsonl": "jsonl", ".parquet": "parquet"}.get(to.suffix.lower(), "hf")
    if to.suffix.lower() in (".json", ".csv"):
        raise ConfigError(f"--to {to}: use a .jsonl or .parquet file, or a directory")
    if to.resolve().parent == run.resolve() and to.name in RUN_FILES:
        raise ConfigError(f"--to {to}: that is one of the run's own files")
    if to.exists() and to.is_dir() != (container == "hf"):
        raise ConfigError(f"--to {to}: " + ("is a directory" if to.is_dir() else "exists and is not a directory"))
    if container == "hf" and to.is_dir() and any(to.iterdir()) and not (to / "dataset_info.json").exists():
        raise ConfigError(f"--to {to}: not empty and not a saved dataset; not replacing it")
    if container == "hf":
        try:
            importlib.import_module("datasets")
        except ImportError:
            raise ConfigError(f"--to {to}: a Hugging Face dataset directory needs `pip install datasets` "
                              "(or use a .jsonl or .parquet path)") from None
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--to {to}: cannot create {to.parent} ({exc.strerror})") from None
    return container


def arrow_schema(fmt: str, keep_id: bool) -> pa.Schema:
    """Fixed column types, so an empty or all-null column never changes them."""
    pairs = lambda a, b: pa.list_(pa.struct([(a, pa.string()), (b, pa.string())]))  # noqa: E731
    types = {"messages": pairs("role", "content"), "conversations": pairs("from", "value"), "label": pa.bool_()}
    names = (("id",) if keep_id else ()) + COLUMNS[fmt]
    return pa.schema([(name, types.get(name, pa.string())) for name in names])


def batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def write_atomically(to: Path, container: str, rows: Iterable[dict[str, Any]], schema: pa.Schema, check: Any) -> None:
    """Write beside `to` (under a temp name of this process: exports hold no lock), run `check`,
    then rename; on any error remove the partial output."""
    remove_stale_temps(to)
    try:
        with atomic_write(to, unique=True) as tmp:
            if container == "jsonl":
                with open(tmp, "wb") as out:
                    for row in rows:
                        out.write(orjson.dumps(row) + b"\n")
            elif container == "parquet":
                with pq.ParquetWriter(tmp, schema) as writer:
                    for batch in batches(rows):
                        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            else:
                write_hf_dataset(tmp, rows, schema)
            check()
    except WriteError as exc:
        raise ConfigError(f"--to {to}: cannot write ({exc.reason}); nothing was written there") from None


def write_hf_dataset(directory: Path, rows: Iterable[dict[str, Any]], schema: pa.Schema) -> None:
    """Arrow batches to a stream file, memory-mapped by `Dataset.from_file` (no cache, no RAM copy), then saved."""
    import datasets
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    stream = directory.with_name(directory.name + ".arrow")
    loud = not are_progress_bars_disabled()
    try:
        with pa.OSFile(str(stream), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for batch in batches(rows):
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
        disable_progress_bars()
        dataset = datasets.Dataset.from_file(str(stream))
        # an empty dataset otherwise gets 0 shards and cannot be loaded (huggingface/datasets#8385)
        dataset.save_to_disk(str(directory), num_shards=None if len(dataset) else 1)
    finally:
        remove_quietly(stream)
        if loud:
            enable_progress_bars()
