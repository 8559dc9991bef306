"""Seeded samplers. Each is a pure function of (seed, slot, record index), so any record can be
re-sampled on resume, or on another machine, and come out the same."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from .sources import EntityList

__all__ = ["Sampler", "UniformSampler", "WeightedSampler", "CoverageSampler", "make_sampler", "derive_seed"]


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Sampler(Protocol):
    """Gives the slot value for record `index`: one item, or a list of k distinct items.

    A `positional` sampler is given the record's index (a coverage deck, `each`); the others
    are given the record's seed basis, which is its index unless the record walks rows of
    data (then its row's id or content: see rows.py). An item is whatever the list holds: a
    text, a row mapping, one column's value; so the value is typed `object`.
    """

    positional: bool

    def sample(self, index: int) -> object: ...


class UniformSampler:
    """Each record draws independently and uniformly (k distinct items when k > 1)."""

    positional = False

    def __init__(self, entity: EntityList, seed: int, slot: str, k: int = 1):
        self.items = entity.items
        self.key = f"{seed}:{slot}"
        self.k = k

    def sample(self, index: int) -> object:
        if self.k == 1:  # a 63-bit hash modulo a list length: bias below 1e-12, no Random object
            return self.items[derive_seed(self.key, index) % len(self.items)]
        return random.Random(derive_seed(self.key, index)).sample(self.items, self.k)


class WeightedSampler:
    """Draws proportionally to the list's weights (without replacement when k > 1)."""

    positional = False

    def __init__(self, entity: EntityList, seed: int, slot: str, k: int = 1):
        self.items = entity.items
        self.weights = entity.weights or tuple(1.0 for _ in entity.items)
        self.cumulative = list(itertools.accumulate(self.weights))
        self.key = f"{seed}:{slot}"
        self.k = k

    def sample(self, index: int) -> object:
        if self.k == 1:
            point = derive_seed(self.key, index) / 2**63 * self.cumulative[-1]
            return self.items[min(bisect.bisect_right(self.cumulative, point), len(self.items) - 1)]
        rng = random.Random(derive_seed(self.key, index))
        items, weights, chosen = list(self.items), list(self.weights), []
        for _ in range(self.k):
            pick = rng.choices(range(len(items)), weights)[0]
            chosen.append(items.pop(pick))
            weights.pop(pick)
        return chosen


class CoverageSampler:
    """Shuffled decks: every item is used once before any is used again.

    Position p = index * k + j walks an endless sequence of decks; deck d is the list shuffled
    with a seed of its own, so the value at any position is computed without the ones before it.
    With k > 1 a record that straddles two decks could draw an item twice; the repeat is
    replaced by the next unused item of the following deck.
    """

    positional = True

    def __init__(self, entity: EntityList, seed: int, slot: str, k: int = 1):
        self.items = entity.items
        self.key = f"{seed}:{slot}"
        self.k = k
        self.deck = lru_cache(maxsize=4)(self._deck)

    def _deck(self, number: int) -> tuple[int, ...]:
        order = list(range(len(self.items)))
        random.Random(derive_seed(self.key, "deck", number)).shuffle(order)
        return tuple(order)

    def at(self, position: int) -> int:
        n = len(self.items)
        return self.deck(position // n)[position % n]

    def sample(self, index: int) -> object:
        if self.k == 1:
            return self.items[self.at(index)]
        start = index * self.k
        picked: list[int] = []
        for position in range(start, start + self.k):
            item = self.at(position)
            if item in picked:
                spare = self.deck(position // len(self.items) + 1)
                item = next(i for i in spare if i not in picked)
            picked.append(item)
        return [self.items[i] for i in picked]


SAMPLERS: dict[str, Callable[[EntityList, int, str, int], Sampler]] = {
    "uniform": UniformSampler, "weighted": WeightedSampler, "coverage": CoverageSampler}


def make_sampler(kind: str, entity: EntityList, seed: int, slot: str, k: int = 1) -> Sampler:
    """Build the sampler named `kind`; raises ValueError when it cannot fit the list."""
    if k > len(entity.items):
        raise ValueError(f"k={k} but list {entity.name!r} has only {len(entity.items)} items")
    if kind == "coverage" and entity.weights and len(set(entity.weights)) > 1:
        raise ValueError("the coverage sampler uses every item equally; use sampler: weighted for weights")
    return SAMPLERS[kind](entity, seed, slot, k)
