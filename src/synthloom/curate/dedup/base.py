"""What every deduper returns, and the keep-first rule they share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

import numpy as np

from ...errors import ConfigError

__all__ = ["Duplicate", "DedupResult", "Deduper", "check_threshold", "keep_first", "batched", "ChunkedRows"]


@dataclass(frozen=True)
class Duplicate:
    """A dropped text and the earlier, kept text it duplicates."""

    index: int
    kept: int
    similarity: float


@dataclass
class DedupResult:
    """The duplicates found in `total` texts; everything not listed is kept."""

    total: int
    duplicates: list[Duplicate]
    clusters: int
    state_bytes: int = field(default=0, compare=False)  # per-document state held at the end, summed

    @property
    def kept(self) -> int:
        return self.total - len(self.duplicates)

    def dropped_indices(self) -> set[int]:
        return {d.index for d in self.duplicates}

    def bytes_per_document(self) -> float:
        return self.state_bytes / self.total if self.total else 0.0


class Deduper(Protocol):
    """Finds the texts that repeat an earlier one; `method` names it in reports."""

    method: str

    def dedup(self, texts: Iterable[str]) -> DedupResult: ...


def check_threshold(value: float, name: str = "threshold") -> float:
    """A similarity threshold in (0, 1], or a ConfigError naming the field."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1], got {value!r}") from None
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{name} must be in (0, 1], got {value}")
    return value


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def keep_first(total: int, later: np.ndarray, earlier: np.ndarray, similarity: np.ndarray) -> dict[int, Duplicate]:
    """Walk the texts in input order: one is dropped if an edge links it to an earlier *kept* text.

    Edges are verified pairs (later > earlier). The kept partner is the most similar one (ties:
    the smallest index), so every dropped text is within the threshold of a text that stays,
    which a union-find over the same edges would not promise (chains drift).
    """
    dropped: dict[int, Duplicate] = {}
    if not len(later):
        return dropped
    order = np.lexsort((earlier, -similarity, later))
    later, earlier, similarity = later[order].tolist(), earlier[order].tolist(), similarity[order].tolist()
    for i, j, s in zip(later, earlier, similarity):
        if i not in dropped and j not in dropped and 0 <= j < i < total:
            dropped[i] = Duplicate(i, j, round(s, 6))
    return dropped


class ChunkedRows:
    """Rows appended in equal-sized chunks and gathered by index, without one big copy."""

    def __init__(self, chunk_rows: int):
        self.chunk_rows = chunk_rows
        self.chunks: list[np.ndarray] = []
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        if self.chunks and len(self.chunks[-1]) != self.chunk_rows:
            raise ValueError("only the last chunk may be short")
        self.chunks.append(rows)
        self.rows += len(rows)

    def __len__(self) -> int:
        return self.rows

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.chunks)

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The rows at `index`, in that order."""
        first = self.chunks[0]
        out = np.empty((len(index), *first.shape[1:]), dtype=first.dtype)
        which, offset = np.divmod(index, self.chunk_rows)
        for c in np.unique(which).tolist():
            mask = which == c
            out[mask] = self.chunks[c][offset[mask]]
        return out

    def column(self, start: int, stop: int | None = None) -> np.ndarray:
        """Columns [start, stop) of every row, as one array."""
        if not self.chunks:
            return np.zeros((0,), dtype=np.uint64)
        return np.concatenate([c[:, start:stop] if stop is not None else c[:, start] for c in self.chunks])
