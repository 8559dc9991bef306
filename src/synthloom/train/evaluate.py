"""Evaluate a classifier on real labelled data: accuracy, macro-F1, per class, confusion matrix,
and a learning curve (accuracy against the number of training examples)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError
from .data import Examples, reload_examples
from .models import train_model

__all__ = ["evaluate", "learning_curve", "iter_learning_curve", "curve_sizes", "training_data"]


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


def curve_sizes(total: int, requested: list[int | None] | None = None) -> list[int]:
    """Training-set sizes for a learning curve: 25, 50, 100, ... and `total`; or the `requested` ones
    (None meaning all), capped at `total`."""
    if requested is None:
        sizes, size = [], 25
        while size < total:
            sizes.append(size)
            size *= 2
        return sizes + [total]
    return sorted({total if size is None else min(size, total) for size in requested})


def training_data(meta: dict[str, Any]) -> Examples:
    """A model's own training examples, reloaded from where its meta.json says they came from."""
    try:
        train = reload_examples(meta.get("trained_on") or {})
    except ConfigError as exc:
        raise ConfigError(f"cannot reload the model's training data for the learning curve: {exc}") from None
    if train.label_set() != sorted(meta.get("labels") or []):
        raise ConfigError(f"the training data {train.source['path']} has the labels {', '.join(train.label_set())} but the "
                          f"model knows {', '.join(meta.get('labels') or [])} (the file changed, or the model was trained with a "
                          "--label-map an older version did not record: retrain it)")
    return train


def shuffled_order(labels: list[str], seed: int) -> list[int]:
    """A seeded shuffle of the indices with the first example of each class moved to the front,
    so that any prefix of at least as many examples as classes holds every class."""
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    firsts: dict[str, int] = {}
    for i in order:
        firsts.setdefault(labels[i], i)
    chosen = set(firsts.values())
    return list(firsts.values()) + [i for i in order if i not in chosen]


def iter_learning_curve(train: Examples, test: Examples, kind: str, sizes: list[int], seed: int = 0) -> Iterator[dict[str, Any]]:
    """Accuracy and macro-F1 on `test` after training on the first k of a seeded shuffle of `train`, one k at a time."""
    if any(size < 2 for size in sizes):
        raise ConfigError(f"learning curve sizes must be at least 2 (two classes), got {min(sizes)}")
    order = shuffled_order(train.labels, seed)
    labels = train.label_set()
    for size in sizes:
        picked = order[:size]
        subset = Examples([train.texts[i] for i in picked], [train.labels[i] for i in picked])
        scores = evaluate(train_model(subset, kind, seed), test, labels)
        yield {"train_size": len(picked), "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}


def learning_curve(train: Examples, test: Examples, kind: str, sizes: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """Every point of `iter_learning_curve` at once."""
    return list(iter_learning_curve(train, test, kind, sizes, seed))
