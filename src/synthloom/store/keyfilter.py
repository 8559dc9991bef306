"""Which response keys this store may hold: a Bloom filter, so a look-up of a key it has never
seen skips SQLite. On a fresh run every look-up is such a miss (one SELECT each, about a tenth of
the run's CPU against a fast server); a resumed run pays one scan of the keys to build it.

No false negatives: a key added is always found, so a stored response is never paid for twice;
a false positive (about 1 in 200 at 16 bits per key) only costs the SELECT it would have made.
The filter is per Store object and process (Python's string hash is salted per process).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KeyFilter"]

MIN_BITS = 1 << 23  # 1 MB: room for half a million keys before the false positives grow
BITS_PER_KEY = 16
HASHES = 3


class KeyFilter:
    """A Bloom filter over strings, sized for `expected` keys (it grows no further: past that,
    more look-ups fall through to SQLite, never fewer answers)."""

    def __init__(self, expected: int = 0):
        self.size = max(MIN_BITS, BITS_PER_KEY * expected)
        self.bits = bytearray(self.size // 8 + 1)

    @classmethod
    def of(cls, keys: Iterable[str], expected: int) -> KeyFilter:
        built = cls(expected)
        for key in keys:
            built.add(key)
        return built

    def positions(self, key: str) -> list[int]:
        h = hash(key)
        first, step = h & 0xFFFFFFFF, (h >> 32) | 1  # double hashing: k positions from one hash
        return [(first + i * step) % self.size for i in range(HASHES)]

    def add(self, key: str) -> None:
        for p in self.positions(key):
            self.bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and all(self.bits[p >> 3] & (1 << (p & 7)) for p in self.positions(key))
