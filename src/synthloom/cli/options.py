"""Arguments several commands take, declared (and checked) once, so a flag means and says the same
in every command that has it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError

__all__ = ["add_run_dir", "add_backend_arguments", "add_price_arguments", "add_label_fields", "parse_label_map", "at_least"]

RUN_DIR = "a run directory written by `synthloom run`"


def add_run_dir(p: argparse.ArgumentParser, dest: str = "run_dir", metavar: str = "RUN_DIR", note: str = "") -> None:
    """The run directory a command reads (review, report, card, push, export)."""
    p.add_argument(dest, type=Path, metavar=metavar, help=RUN_DIR + note)


def add_backend_arguments(p: argparse.ArgumentParser,
                          base_url: str = "OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1") -> None:
    """Which backend and model to use instead of the recipe's (run, estimate)."""
    p.add_argument("--backend", dest="kind", help="embedded, openai, fake, or a plugin's name (default: the recipe's)")
    p.add_argument("--model", help="GGUF path (embedded) or model name (openai)")
    p.add_argument("--base-url", help=base_url)
    p.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")


def add_price_arguments(p: argparse.ArgumentParser) -> None:
    """Prices instead of the recipe's (run, estimate)."""
    p.add_argument("--price-in", type=float, metavar="USD", help="$ per 1M prompt tokens (overrides the recipe's prices:)")
    p.add_argument("--price-out", type=float, metavar="USD", help="$ per 1M completion tokens")


def add_label_fields(p: argparse.ArgumentParser) -> None:
    """The text and the label of labelled data (train, evaluate)."""
    p.add_argument("--text-field", required=True)
    p.add_argument("--label-field", required=True)


def parse_label_map(text: str | None) -> dict[str, str] | None:
    """--label-map 'a=b,c=d' → {'a': 'b', 'c': 'd'}."""
    if not text:
        return None
    mapping = {}
    for pair in text.split(","):
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ConfigError(f"--label-map: {pair!r} is not FROM=TO")
        mapping[source.strip()] = target.strip()
    return mapping


def at_least(flags: str, *values: float | None, low: int = 1) -> None:
    """'FLAGS must be at least LOW' when a given value (None: not given) is below it."""
    if any(value is not None and value < low for value in values):
        raise ConfigError(f"{flags} must be at least {low}")
