"""`synthloom evaluate MODEL --data REAL --text-field F --label-field L`: scores on real labelled data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ConfigError, missing_extra
from .options import add_label_fields, parse_label_map

__all__ = ["add_parser", "handle", "parse_sizes"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained classifier on real labelled data",
                       description="Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of a "
                                   "model made by `synthloom train`, on a .jsonl/.csv/.parquet file. Writes "
                                   "MODEL/eval.json (or --out) and eval.html next to it, a page with the confusion "
                                   "matrix and, with --learning-curve, the learning curve.")
    p.add_argument("model", type=Path, help="a directory made by `synthloom train`")
    p.add_argument("--data", type=Path, required=True)
    add_label_fields(p)
    p.add_argument("--label-map", help="rename the data's labels to the model's, e.g. great=positive,other=negative")
    p.add_argument("--learning-curve", action="store_true",
                   help="also retrain the model's kind on growing subsets of its own training data and score each on --data")
    p.add_argument("--sizes", help="learning-curve training sizes, e.g. 50,100,200,all (default 25,50,100,... and all; "
                                   "implies --learning-curve)")
    p.add_argument("--reviewed-only", action="store_true",
                   help="with a run directory as --data: only the records a person accepted in `synthloom review`")
    p.add_argument("--out", type=Path, help="where to write the scores (default MODEL/eval.json; the page goes next to it)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..train.data import load_examples
    from ..train.evaluate import curve_sizes, evaluate, iter_learning_curve, training_data
    from ..train.models import load_model

    try:
        from ..train.report import eval_paths, write_eval  # the page's plots: numpy and matplotlib
    except ImportError as exc:
        raise missing_extra("curate", exc) from None

    requested = parse_sizes(args.sizes)
    model, meta = load_model(args.model)
    out, _ = eval_paths(args.out or args.model / "eval.json")
    examples = load_examples(args.data, args.text_field, args.label_field, parse_label_map(args.label_map),
                             reviewed_only=args.reviewed_only)
    scores = evaluate(model, examples, meta["labels"])
    scores["model"], scores["data"] = meta, str(args.data)
    print(f"accuracy {scores['accuracy']:.3f} · macro-F1 {scores['macro_f1']:.3f} on {scores['n']:,} examples ({args.data})")
    for label, s in scores["per_class"].items():
        print(f"  {label:<16} precision {s['precision']:.3f} recall {s['recall']:.3f} f1 {s['f1-score']:.3f} support {int(s['support'])}")
    print("  confusion (rows: true, columns: predicted; " + ", ".join(scores["labels"]) + "): " + json.dumps(scores["confusion"]))
    if scores["unknown_labels"]:
        print(f"synthloom: warning: labels in the data the model does not know: {', '.join(scores['unknown_labels'])} "
              "(map them with --label-map)")
    if args.learning_curve or requested is not None:
        train = training_data(meta)
        total = len(train.texts)
        if total != meta["trained_on"].get("rows"):
            print(f"synthloom: warning: {train.source['path']} has {total:,} rows now, the model was trained on "
                  f"{meta['trained_on'].get('rows')}", file=sys.stderr)
        if requested and any(size is not None and size > total for size in requested):
            print(f"synthloom: warning: --sizes above the {total:,} training examples are capped at {total:,}", file=sys.stderr)
        scores["learning_curve"] = []
        for point in iter_learning_curve(train, examples, meta["model"], curve_sizes(total, requested)):
            scores["learning_curve"].append(point)
            print(f"  learning curve: {point['train_size']:>6,} training examples → accuracy {point['accuracy']:.3f} "
                  f"· macro-F1 {point['macro_f1']:.3f}", flush=True)
    page = write_eval(scores, out, args.model)
    print(f"wrote {out} and {page}")
    return 0


def parse_sizes(text: str | None) -> list[int | None] | None:
    """'50,100,all' → [50, 100, None] (None: every training example); None when not given."""
    if text is None:
        return None
    sizes: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part.lower() == "all":
            sizes.append(None)
        elif part.isascii() and part.isdigit() and int(part) >= 2:
            sizes.append(int(part))
        else:
            raise ConfigError(f"--sizes: {part!r} is not a number of training examples (at least 2) or 'all'")
    return sizes
