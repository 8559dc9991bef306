"""Samplers over rows of data: `each` (record i from row i) and stratified few-shot (k per label).

`each` walks the rows in order: record i takes row i // per_row. It refuses to go past the
last row (a run's -n is checked against rows × per_row before it starts) rather than wrap:
a second pass over the same rows would label or rewrite them twice. A record's seeds come from
its row (the `id` column, else the row's content) and its repeat j, not from its index, so
rows that move (another `where`, a row deleted above them) keep their cached responses.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from typing import Any

import orjson

from .samplers import Sampler, derive_seed, make_sampler
from .sources import EntityList

__all__ = ["EachSampler", "StratifiedSampler", "make_slot_sampler", "PROVENANCE"]

PROVENANCE = ("source_row", "source_id")  # fields a record made from a row carries


class EachSampler:
    """Record i ← row i // per_row of the list, in order."""

    positional = True

    def __init__(self, entity: EntityList, per_row: int = 1):
        self.entity = entity
        self.items = entity.items
        self.per_row = per_row

    @property
    def records(self) -> int:
        """How many records the rows make."""
        return len(self.items) * self.per_row

    def row_index(self, index: int) -> int:
        row = index // self.per_row
        if row >= len(self.items):
            raise ValueError(f"record {index} is past the end of {self.entity.name!r} "
                             f"({len(self.items):,} rows × per_row {self.per_row} = {self.records:,} records)")
        return row

    def sample(self, index: int) -> Any:
        return self.items[self.row_index(index)]

    def take(self, index: int) -> tuple[Any, str, dict[str, Any]]:
        """Record `index`'s item, seed basis and provenance fields, reading its row once."""
        row = self.row_index(index)
        table = self.entity.table
        if table is not None:
            full, position = table.row_and_position(row)
            item = self.items.value(full)  # type: ignore[attr-defined]  # a table's items are TableRows
        else:
            item, position = self.items[row], row
        return item, self.basis(item, index), self.provenance(item, position)

    def basis(self, item: Any, index: int) -> str:
        """What the record's seeds derive from: its row's id (or content) and its repeat."""
        if isinstance(item, dict) and item.get("id") is not None:
            key = f"id:{item['id']}"
        else:
            blob = orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)
            key = "row:" + hashlib.blake2b(blob, digest_size=12).hexdigest()
        return key if self.per_row == 1 else f"{key}#{index % self.per_row}"

    @staticmethod
    def provenance(item: Any, position: int) -> dict[str, Any]:
        """source_row (the row's position in the file, 0-based) and source_id (its `id` column)."""
        fields: dict[str, Any] = {"source_row": position}
        if isinstance(item, dict) and "id" in item:
            fields["source_id"] = item["id"]
        return fields


class StratifiedSampler:
    """k distinct rows for each value of a column (few-shot examples per label), shuffled together."""

    positional = False

    def __init__(self, entity: EntityList, seed: int, slot: str, k: int, column: str):
        self.items = entity.items
        self.key = f"{seed}:{slot}"
        self.k = k
        groups: dict[str, list[int]] = defaultdict(list)
        for i in range(len(self.items)):
            groups[str(self.items[i][column])].append(i)
        small = sorted((len(rows), label) for label, rows in groups.items() if len(rows) < k)
        if small:
            raise ValueError(f"stratify: {column}: label {small[0][1]!r} has {small[0][0]} row(s), fewer than k={k}")
        self.groups = [groups[label] for label in sorted(groups)]

    def sample(self, basis: Any) -> list[Any]:
        rng = random.Random(derive_seed(self.key, basis))
        picked = [i for rows in self.groups for i in rng.sample(rows, self.k)]
        rng.shuffle(picked)
        return [self.items[i] for i in picked]


def make_slot_sampler(spec: Any, entity: EntityList, seed: int, slot: str) -> Sampler:
    """The sampler a slot spec asks for; ValueError when it cannot fit the list."""
    if spec.sampler == "each" and (spec.k != 1 or spec.stratify):
        raise ValueError("sampler each gives one row per record: no `k` or `stratify` (per_row makes several records per row)")
    if spec.per_row != 1 and spec.sampler != "each":
        raise ValueError("per_row goes with sampler: each")
    if spec.stratify and spec.sampler != "uniform":
        raise ValueError("stratify draws uniformly within each label: leave `sampler` out")
    if spec.sampler == "each":
        return EachSampler(entity, spec.per_row)
    if spec.stratify:
        first = entity.items[0]
        if not isinstance(first, dict):
            raise ValueError(f"stratify needs rows with columns, but {entity.name!r} is a plain list")
        if spec.stratify not in first:
            raise ValueError(f"stratify: no column {spec.stratify} in {entity.name!r}; columns: {', '.join(first)}")
        return StratifiedSampler(entity, seed, slot, spec.k, spec.stratify)
    if spec.sampler == "weighted" and entity.table is not None:
        raise ValueError(f"{entity.name!r} is a data file, which has no weights: use uniform, coverage or each")
    return make_sampler(spec.sampler, entity, seed, slot, spec.k)
