"""Planted near-duplicates: random documents, and copies of them with words replaced."""

from __future__ import annotations

import random

import pytest

from synthloom.curate.dedup import shingles


def jaccard(a: str, b: str) -> float:
    x, y = set(shingles(a)), set(shingles(b))
    return len(x & y) / len(x | y)


def replace_words(text: str, count: int, rng: random.Random) -> str:
    words = text.split()
    for position in rng.sample(range(len(words)), count):
        words[position] = f"new{rng.randrange(10**9)}"
    return " ".join(words)


@pytest.fixture(scope="session")
def planted():
    """(texts, near, far): `near` maps a copy to its source (Jaccard ≥ 0.8), `far` likewise for 0.4–0.65."""
    return make_planted()


def make_planted():
    """300 random texts, then 300 copies at Jaccard ≥ 0.8 and 60 at 0.4–0.65 of them, shuffled in order."""
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(60, 140))) for _ in range(300)]
    near, far = {}, {}
    while len(near) < 300 or len(far) < 60:
        source = rng.randrange(300)
        want_near = len(near) < 300 and (len(far) >= 60 or rng.random() < 0.8)
        size = len(texts[source].split())
        count = rng.randint(1, max(1, size // 25)) if want_near else rng.randint(size // 12, size // 7)
        copy = replace_words(texts[source], count, rng)
        similarity = jaccard(copy, texts[source])
        if want_near and similarity >= 0.8:
            near[len(texts)] = source
        elif not want_near and 0.4 <= similarity <= 0.65:
            far[len(texts)] = source
        else:
            continue
        texts.append(copy)
    return texts, near, far
