"""`synthloom export OUT --format FMT --to FILE.jsonl|FILE.parquet|DIR`: a run's dataset in a training format."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..export.formats import FORMATS, FieldMap
from .options import add_run_dir

__all__ = ["add_parser", "handle"]
FIELD_FLAGS = {  # flag → the formats that read it
    "messages_field": ("sft", "sharegpt", "alpaca"), "response_field": ("sft", "sharegpt", "alpaca"),
    "input_field": ("alpaca",), "chosen_field": ("dpo",), "rejected_field": ("dpo",),
    "completion_field": ("kto",), "label_field": ("kto",),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's dataset in a training format (TRL sft/dpo/kto, alpaca, sharegpt)",
                       description="Convert OUT/dataset.jsonl into the columns a trainer reads. --to picks the container: "
                                   "*.jsonl, *.parquet, or any other path for a Hugging Face datasets directory.")
    add_run_dir(p, dest="out", metavar="OUT")
    p.add_argument("--format", required=True, metavar="FMT", help=f"one of: {', '.join(FORMATS)}; or hf: the rows as they "
                   "are, as DIR/data/*.parquet with the dataset card DIR/README.md (the Hub's layout)")
    p.add_argument("--to", required=True, type=Path, metavar="PATH", help="FILE.jsonl, FILE.parquet or a directory")
    p.add_argument("--prompt-field", metavar="F", help="row field holding the prompt (default: the prompt sent; dpo/kto: prompt)")
    p.add_argument("--prompt-stage", metavar="STAGE", help="stage whose first request is the prompt sent (default: "
                   "the one that wrote --response-field, else the last; dpo/kto: the first)")
    p.add_argument("--response-field", metavar="F", help="row field holding the reply (needed when rows have no messages)")
    p.add_argument("--messages-field", metavar="F", help="row field holding a chat (default: messages)")
    p.add_argument("--input-field", metavar="F", help="alpaca: row field for `input` (default: empty)")
    p.add_argument("--chosen-field", metavar="F", help="dpo (default: chosen)")
    p.add_argument("--rejected-field", metavar="F", help="dpo (default: rejected)")
    p.add_argument("--completion-field", metavar="F", help="kto (default: completion, or each item of `completions`)")
    p.add_argument("--label-field", metavar="F", help="kto (default: label)")
    p.add_argument("--no-id", action="store_true", help="leave out the id column")
    p.add_argument("--reasoning", choices=("include", "drop"), default="include",
                   help="sft: the response's reasoning trace (field RESPONSE_reasoning) as the assistant turn's `thinking` "
                        "(include, the default) or left out (drop)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..export.training_files import export_dataset
    from ..files import describe_os_error

    for flag, formats in FIELD_FLAGS.items():
        if getattr(args, flag) is not None and args.format in (*FORMATS, "hf") and args.format not in formats:
            raise ConfigError(f"--{flag.replace('_', '-')} is not used by --format {args.format}")
    given = {name.removesuffix("_field"): getattr(args, name) for name in (*FIELD_FLAGS, "prompt_field")}
    fields = FieldMap(**{name: value for name, value in given.items() if value is not None},
                      reasoning=args.reasoning == "include")
    try:
        result = export_dataset(args.out, args.format, args.to, fields, prompt_stage=args.prompt_stage, keep_id=not args.no_id)
    except OSError as exc:  # a file of the run that cannot be read (permissions, I/O error)
        raise ConfigError(f"{exc.filename or args.out}: {describe_os_error(exc)}") from None
    print(result.summary())
    return 0
