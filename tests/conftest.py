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


# --- a small document corpus (tests/corpus, tests/stages) ---
DOCS = {
    "photosynthesis.md": """# Photosynthesis

## Light reactions

Plants capture light with chlorophyll in the thylakoid membranes. Water molecules are split, which releases oxygen gas. The energy is stored in ATP and NADPH.

## The Calvin cycle

The enzyme RuBisCO fixes carbon dioxide into a three-carbon sugar called G3P. The cycle runs in the stroma of the chloroplast and uses the ATP made in the light reactions.
""",
    "honeybees.md": """# Honeybees

## The waggle dance

A forager bee that finds nectar returns to the hive and performs a waggle dance. The angle of the dance tells other bees the direction of the flowers relative to the sun, and the length of the waggle run tells the distance.

## The colony

A colony has one queen, thousands of female workers and a few hundred male drones in summer.
""",
    "bridges.txt": """Suspension bridges

The Akashi Kaikyo Bridge in Japan has a central span of 1,991 metres. Its main cables are made of high-strength steel wire.

Arch bridges

An arch carries its load mostly in compression, pushing outward on its supports at each end.
""",
    "lighthouse.html": """<html><head><title>The Eddystone Lighthouse</title><script>var tracking = 1;</script></head>
<body><nav><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/login">Log in</a></nav>
<div class="cookie">We use cookies to improve your browsing experience. Accept all cookies?</div>
<article><h1>The Eddystone Lighthouse</h1>
<p>The Eddystone Lighthouse stands on rocks fourteen kilometres south of Plymouth. The current tower, designed by James Douglass, was first lit in 1882.</p>
<h2>Earlier towers</h2>
<p>John Smeaton's tower of 1759 used dovetailed granite blocks, a technique that influenced later lighthouse building for a century.</p>
</article>
<footer>Copyright 2026 Example Media. Privacy policy. Terms of use.</footer></body></html>
""",
}


@pytest.fixture(scope="session")
def embedder():
    """The packaged WordLlama model, loaded once (0.5 s)."""
    from synthloom.corpus.embed import load_embedder

    return load_embedder()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root
