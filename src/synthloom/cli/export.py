"""`synthloom export OUT --format sft|dpo|kto|alpaca|sharegpt --to FILE.jsonl|FILE.parquet|DIR`."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from ..export import write_jsonl, write_parquet
from ..export.formats import FORMATS, FieldMap, Skip, convert
from ..store import Store

__all__ = ["add_parser", "handle", "export_dataset"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's dataset in a training format (TRL, Alpaca, ShareGPT)",
                       description="Convert OUT/dataset.jsonl into the columns a trainer reads. --to decides the "
                                   "container: .jsonl, .parquet, or any other path for a Hugging Face datasets directory.")
    p.add_argument("out", type=Path, help="a run directory written by `synthloom run`")
    p.add_argument("--format", required=True, choices=sorted(FORMATS))
    p.add_argument("--to", required=True, type=Path)
    p.add_argument("--prompt-field", help="field holding the prompt (default: the exact prompt sent, from the store)")
    p.add_argument("--prompt-stage", help="stage whose first request is the prompt (default: the record's last stage)")
    p.add_argument("--response-field", help="field holding the response (default: the row's last field)")
    p.add_argument("--chosen-field", default="chosen")
    p.add_argument("--rejected-field", default="rejected")
    p.add_argument("--completion-field", default="completion")
    p.add_argument("--label-field", default="label")
    p.add_argument("--no-id", action="store_true", help="leave out the id column")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    fields = FieldMap(prompt=args.prompt_field, response=args.response_field, chosen=args.chosen_field,
                      rejected=args.rejected_field, completion=args.completion_field, label=args.label_field)
    written, skipped = export_dataset(args.out, args.format, args.to, fields, args.prompt_stage, not args.no_id)
    why = ", ".join(f"{reason}: {count}" for reason, count in skipped.most_common())
    print(f"synthloom: wrote {written} {args.format} rows to {args.to}" + (f"; skipped {sum(skipped.values())} ({why})" if skipped else ""))
    return 0


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise ConfigError(f"{path}:{number}: not a JSON object") from None


def sent_messages(store: Store, calls: list[dict[str, Any]], stage: str | None) -> list[dict[str, str]] | None:
    """The messages of the first request of `stage` (default: the record's last stage)."""
    if not calls:
        return None
    stage = stage or calls[-1]["stage"]
    call = next((c for c in calls if c["stage"] == stage), None)
    request = store.get_request(call["request"]) if call else None
    return request["messages"] if request else None


def export_dataset(out: Path, fmt: str, to: Path, fields: FieldMap, prompt_stage: str | None = None,
                   keep_id: bool = True) -> tuple[int, Counter]:
    """Convert a run directory; returns rows written and why rows were skipped."""
    dataset, lineage = out / "dataset.jsonl", out / "lineage.jsonl"
    if not dataset.is_file():
        raise ConfigError(f"{dataset}: not found (is {out} a directory written by `synthloom run`?)")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: unknown (known: {', '.join(sorted(FORMATS))})")
    store = Store.open_dir(out) if (out / Store.FILENAME).exists() else None
    calls = {item["id"]: item["calls"] for item in read_jsonl(lineage)} if lineage.is_file() else {}
    skipped: Counter = Counter()

    def rows() -> Iterator[dict[str, Any]]:
        for row in read_jsonl(dataset):
            if fields.get("response") is None:
                fields_for_row = FieldMap(fields, response=list(row)[-1])
            else:
                fields_for_row = fields
            sent = sent_messages(store, calls.get(row.get("id"), []), prompt_stage) if store else None
            try:
                yield from convert(fmt, row, fields_for_row, sent, keep_id)
            except Skip as why:
                skipped[str(why)] += 1

    try:
        written = write_container(rows(), to)
    finally:
        if store is not None:
            store.close()
    if written == 0 and skipped:
        reason = skipped.most_common(1)[0][0]
        if to.is_file():
            to.unlink()
        raise ConfigError(f"no row of {dataset} could be written as {fmt} ({reason}); see the --*-field options")
    return written, skipped


def write_container(rows: Iterator[dict[str, Any]], to: Path) -> int:
    """JSON Lines, Parquet, or a Hugging Face datasets directory (save_to_disk)."""
    try:
        if to.suffix == ".jsonl":
            return write_jsonl(to, rows)
        if to.suffix == ".parquet":
            return write_parquet(to, rows)
        try:
            import datasets
        except ImportError:
            raise ConfigError(f"--to {to}: writing a Hugging Face dataset needs `pip install datasets` "
                              "(or use a .jsonl or .parquet path)") from None
        datasets.disable_progress_bars()
        with tempfile.TemporaryDirectory() as tmp:
            count = write_parquet(Path(tmp) / "rows.parquet", rows)
            table = datasets.Dataset.from_parquet(str(Path(tmp) / "rows.parquet"), cache_dir=tmp)
            table.save_to_disk(str(to))
        return count
    except OSError as exc:
        raise ConfigError(f"--to {to}: cannot write ({exc.strerror or exc})") from None
