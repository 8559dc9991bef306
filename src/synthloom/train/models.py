"""Local classifiers: TF-IDF + logistic regression, sentence embeddings + logistic regression, and
a fine-tuned MiniLM.

The first two are scikit-learn pipelines, so a saved model is one joblib file that predicts from
raw text; the embedding model uses WordLlama (shipped in its wheel) and needs the `corpus` extra.
`minilm-finetune` (finetune.py, PyTorch, the `finetune` extra) saves its weights as safetensors.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, missing_extra
from ..files import atomic_write, write_text_atomic
from ..version import package_version

if TYPE_CHECKING:
    from .data import Examples

__all__ = ["MODELS", "make_model", "train_model", "save_model", "load_model"]

MODELS = ("tfidf-logreg", "embed-logreg", "minilm-finetune")


class WordLlamaFeatures:
    """A scikit-learn transformer: texts → WordLlama sentence embeddings."""

    def __init__(self) -> None:
        self.embedder: Any = None

    def fit(self, texts: list[str], labels: Any = None) -> WordLlamaFeatures:
        return self

    def transform(self, texts: list[str]) -> Any:
        if self.embedder is None:
            from ..corpus.embed import load_embedder  # not at module level: the CLI's parser imports this module

            self.embedder = load_embedder()
        return self.embedder.embed(list(texts))

    def __getstate__(self) -> dict:
        return {}  # the embedder is reloaded from its wheel, never pickled

    def __setstate__(self, state: dict) -> None:
        self.embedder = None


def finetune_module() -> Any:
    """synthloom.train.finetune, imported only when asked for: it needs torch and transformers."""
    try:
        return importlib.import_module(".finetune", __package__)
    except ImportError as exc:
        raise missing_extra("finetune", exc) from None


def make_model(kind: str, seed: int = 0) -> Any:
    """An untrained model of the given kind: fit(texts, labels), predict(texts) → labels."""
    if kind == "minilm-finetune":
        return finetune_module().MiniLMClassifier(seed)
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
    except ImportError as exc:
        raise missing_extra("curate", exc) from None
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    if kind == "tfidf-logreg":
        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True), classifier)
    if kind == "embed-logreg":
        return make_pipeline(WordLlamaFeatures(), classifier)
    raise ConfigError(f"unknown model {kind!r} (known: {', '.join(MODELS)})")


def train_model(examples: Examples, kind: str = "tfidf-logreg", seed: int = 0) -> Any:
    model = make_model(kind, seed)
    model.fit(examples.texts, examples.labels)
    return model


def save_model(model: Any, kind: str, examples: Examples, out: str | Path) -> Path:
    """model.joblib (minilm-finetune: its weights) and meta.json (kind, labels, training data, the run/recipe)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from None
    if kind == "minilm-finetune":
        model.save(out)
    else:
        import joblib

        with atomic_write(out / "model.joblib") as tmp:
            joblib.dump(model, tmp)
    meta = {"synthloom": package_version(), "model": kind, "labels": examples.label_set(), "trained_on": examples.source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_text_atomic(out / "meta.json", json.dumps(meta, indent=2) + "\n")  # last: it says the model is complete
    return out


def load_model(directory: str | Path) -> tuple[Any, dict[str, Any]]:
    directory = Path(directory)
    meta_file = directory / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else None
    if meta and meta.get("model") == "minilm-finetune":
        return finetune_module().MiniLMClassifier.load(directory), meta
    if not (directory / "model.joblib").is_file() or meta is None:
        raise ConfigError(f"{directory}: not a model directory (no model.joblib and meta.json; make one with `synthloom train`)")
    import joblib

    return joblib.load(directory / "model.joblib"), meta
