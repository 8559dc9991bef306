"""Shared fixtures: recipe files in a temp dir, and running the CLI in and out of process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))

SMALL_RECIPE = """\
name: small
seed: 7
entities:
  nouns: [cat, dog, tree, river, cake]
  verbs: [jump, sing, hide]
  features: [dialogue, a bad ending, a moral value, a plot twist]
slots:
  noun: {from: nouns, sampler: coverage}
  verb: verbs
  features: {from: features, k: 2}
stages:
  - name: story
    prompt: "Write about {{ noun }} that can {{ verb }}, with {{ features | join(', ') }}."
    params: {temperature: 0.9, max_tokens: 40}
  - name: title
    prompt: "A title for: {{ story }}"
    params: {max_tokens: 12}
"""


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write recipe text (dedented) to a file in tmp_path and return its path."""

    def write(text: str = SMALL_RECIPE, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `synthloom` entry point as a user would."""
    return subprocess.run(
        [SYNTHLOOM, *map(str, args)], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
