"""Generator terms: which licence or terms govern a model's outputs, looked up by model name in
the table shipped with the package (licences.yaml), and the warnings `validate` and `run` print."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import yaml

__all__ = ["Terms", "terms_for", "terms_table", "model_names", "licence_warnings", "print_licence_warnings", "CLEAN"]

CLEAN = "allowed"
OUTCOMES = ("allowed", "conditional", "restricted", "unknown")


@dataclass(frozen=True)
class Terms:
    """One family's terms: `outputs` says whether its outputs may train other models."""

    id: str
    family: str
    licence: str
    outputs: str
    terms: str
    source: str
    checked: str
    match: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("id", "family", "licence", "outputs", "terms", "source", "checked")}


UNKNOWN = Terms("unknown", "not in synthloom's table", "unknown", "unknown",
                "synthloom's table has no entry for this model: read its licence or the provider's terms "
                "before publishing the data or training a model on it", "", "")


@lru_cache(maxsize=1)
def terms_table() -> tuple[Terms, ...]:
    """The shipped table, in matching order."""
    text = resources.files(__package__).joinpath("licences.yaml").read_text(encoding="utf-8")
    entries = []
    for entry in yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when there
        entry = {k: str(v) if k != "match" else tuple(v) for k, v in entry.items()}
        if entry["outputs"] not in OUTCOMES:
            raise ValueError(f"licences.yaml: {entry['id']}: outputs must be one of {OUTCOMES}")
        entries.append(Terms(**entry))
    return tuple(entries)


def normalised(model: str) -> str:
    """'HuggingFaceTB/SmolLM2-135M.Q4_1.gguf' → 'smollm2-135m.q4_1': what the patterns are written for."""
    name = PurePosixPath(model.replace("\\", "/")).name.lower()
    return name.removesuffix(".gguf")


def terms_for(model: str | None) -> Terms:
    """The terms of the first family whose pattern is found in the model's name; UNKNOWN otherwise."""
    if not model:
        return UNKNOWN
    name = normalised(model)
    for terms in terms_table():
        if any(re.search(pattern, name) for pattern in terms.match):
            return terms
    return UNKNOWN


def model_names(recipe: Any, spec: Any = None) -> list[tuple[str, str]]:
    """(where, model name) for the recipe's default backend (or `spec`, the command line's) and each named one;
    the embedded backend without a model is its shipped default, SmolLM2."""
    from ..backends.embedded import SMOLLM2_FILE

    specs = [("backend", spec or recipe.backend), *((f"backends.{name}", b) for name, b in recipe.backends.items())]
    names = []
    for where, backend in specs:
        model = backend.model or (SMOLLM2_FILE if backend.kind == "embedded" else None)
        if backend.kind != "fake" and model:
            names.append((where, model))
    return names


def licence_warnings(models: Iterable[tuple[str, str]]) -> list[str]:
    """One line per model whose outputs are not free to train other models (or whose terms are unknown)."""
    lines = []
    for where, model in models:
        terms = terms_for(model)
        if terms.outputs == CLEAN:
            continue
        if terms.outputs == "unknown":
            lines.append(f"{where}: model {model!r}: its licence terms are not in synthloom's table; check whether "
                         "its outputs may be used to train other models before you publish or train on this data")
            continue
        lines.append(f"{where}: model {model!r} ({terms.licence}): outputs {terms.outputs} for training other models: "
                     f"{one_line(terms.terms)} (source: {terms.source}, checked {terms.checked})")
    return lines


def one_line(text: str) -> str:
    return " ".join(text.split())


def print_licence_warnings(recipe: Any, spec: Any = None) -> None:
    """`synthloom: warning: ...` on stderr for each model of the recipe whose terms restrict its outputs."""
    import sys

    for line in licence_warnings(model_names(recipe, spec)):
        print(f"synthloom: warning: generator terms: {line}", file=sys.stderr)
