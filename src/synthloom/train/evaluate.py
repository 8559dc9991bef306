"""Evaluate a classifier on real labelled data: accuracy, macro-F1, per class, confusion matrix,
and a learning curve (accuracy against the number of training examples)."""

from __future__ import annotations

import random
from typing import Any

from .data import Examples
from .models import train_model

__all__ = ["evaluate", "learning_curve"]


def evaluate(model: Any, examples: Examples, labels: list[str] | None = None) -> dict[str, Any]:
    """Scores of the model's predictions on `examples`; `labels` fixes the class order."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    predicted = list(model.predict(examples.texts))
    order = labels or sorted(set(examples.labels) | set(predicted))
    unknown = sorted(set(examples.labels) - set(order))
    report = classification_report(examples.labels, predicted, labels=order, output_dict=True, zero_division=0)
    return {
        "n": len(examples.texts),
        "accuracy": round(float(accuracy_score(examples.labels, predicted)), 4),
        "macro_f1": round(float(f1_score(examples.labels, predicted, labels=order, average="macro", zero_division=0)), 4),
        "per_class": {label: {k: round(float(v), 4) for k, v in report[label].items()} for label in order},
        "labels": order,
        "confusion": confusion_matrix(examples.labels, predicted, labels=order).tolist(),
        "unknown_labels": unknown,  # in the data but not a class the model knows: always wrong
    }


def learning_curve(train: Examples, test: Examples, kind: str, sizes: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """Accuracy and macro-F1 on `test` after training on the first k of a seeded shuffle of `train`."""
    order = list(range(len(train.texts)))
    random.Random(seed).shuffle(order)
    points = []
    for size in sizes:
        picked = order[:size]
        subset = Examples([train.texts[i] for i in picked], [train.labels[i] for i in picked])
        if len(set(subset.labels)) < 2:
            continue
        scores = evaluate(train_model(subset, kind, seed), test)
        points.append({"train_size": len(picked), "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]})
    return points
