"""`synthloom train DATA --text-field F --label-field L --out DIR`: a local classifier from labelled data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..train.models import MODELS
from .options import add_label_fields, parse_label_map

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a local classifier on a run directory or a labelled file",
                       description="Train a classifier that runs without any API on labelled data: a run directory "
                                   "(the label is a sampled slot) or a .jsonl/.csv/.parquet file. Saves the model "
                                   "and meta.json (model, labels, the run and recipe it was trained on) in --out.")
    p.add_argument("data", type=Path, help="a run directory or a .jsonl/.csv/.parquet file")
    add_label_fields(p)
    p.add_argument("--model", default="tfidf-logreg", choices=MODELS,
                   help="minilm-finetune fine-tunes all-MiniLM-L6-v2 with PyTorch on the CPU (the `finetune` extra)")
    p.add_argument("--label-map", help="rename labels before training, e.g. positive=great,negative=other")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="the model directory to write")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..train.data import load_examples
    from ..train.models import save_model, train_model

    examples = load_examples(args.data, args.text_field, args.label_field, parse_label_map(args.label_map))
    model = train_model(examples, args.model, args.seed)
    save_model(model, args.model, examples, args.out)
    counts = {label: examples.labels.count(label) for label in examples.label_set()}
    print(f"trained {args.model} on {len(examples.texts):,} examples ({json.dumps(counts)}) → {args.out}")
    return 0
