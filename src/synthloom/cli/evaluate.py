"""`synthloom evaluate MODEL --data REAL --text-field F --label-field L`: scores on real labelled data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .train import parse_label_map

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained classifier on real labelled data",
                       description="Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of a "
                                   "model made by `synthloom train`, on a .jsonl/.csv/.parquet file. Writes "
                                   "MODEL/eval.json (or --out).")
    p.add_argument("model", type=Path, help="a directory made by `synthloom train`")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--text-field", required=True)
    p.add_argument("--label-field", required=True)
    p.add_argument("--label-map", help="rename the data's labels to the model's, e.g. great=positive,other=negative")
    p.add_argument("--out", type=Path, help="where to write the scores (default MODEL/eval.json)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..train.data import load_examples
    from ..train.evaluate import evaluate
    from ..train.models import load_model

    model, meta = load_model(args.model)
    examples = load_examples(args.data, args.text_field, args.label_field, parse_label_map(args.label_map))
    scores = evaluate(model, examples, meta["labels"])
    scores["model"], scores["data"] = meta, str(args.data)
    out = args.out or args.model / "eval.json"
    out.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    print(f"accuracy {scores['accuracy']:.3f} · macro-F1 {scores['macro_f1']:.3f} on {scores['n']:,} examples ({args.data})")
    for label, s in scores["per_class"].items():
        print(f"  {label:<16} precision {s['precision']:.3f} recall {s['recall']:.3f} f1 {s['f1-score']:.3f} support {int(s['support'])}")
    print("  confusion (rows: true, columns: predicted; " + ", ".join(scores["labels"]) + "): " + json.dumps(scores["confusion"]))
    if scores["unknown_labels"]:
        print(f"synthloom: warning: labels in the data the model does not know: {', '.join(scores['unknown_labels'])} "
              "(map them with --label-map)")
    print(f"wrote {out}")
    return 0
