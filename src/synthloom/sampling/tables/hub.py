"""Hugging Face Hub datasets by name (`{hub: NAME, split: train}`), through the `datasets` library."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from .readers import DataError, first_line

__all__ = ["load_hub"]


def load_hub(name: str, config: str | None, split: str) -> Any:
    """The split's Arrow table; one-line DataError when it cannot be had (offline, unknown name)."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"the Hugging Face dataset {name!r} needs the `datasets` library: pip install 'synthloom[data]'") from None
    try:
        with quiet_loggers("huggingface_hub", "datasets", "filelock", "fsspec"):
            dataset = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, unknown name, bad split: every kind is one line
        raise DataError(f"cannot load the Hugging Face dataset {name!r} (split {split!r}): {first_line(exc)} "
                        "(this needs the network, or the dataset in the local Hugging Face cache)") from None
    return dataset.with_format(None).data.table


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """The hub client logs each retry to stderr; the error is reported once, as one line."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
