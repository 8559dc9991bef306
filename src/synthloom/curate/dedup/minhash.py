"""Near-duplicates by MinHash signatures (rensa), LSH bands and verified estimated Jaccard."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np

from ...errors import ConfigError, missing_extra
from .base import ChunkedRows, DedupResult, Duplicate, batched, check_threshold, keep_first
from .exact import normal_words

__all__ = ["MinHashDeduper", "lsh_params", "shingles", "candidate_probability"]

MIX = np.uint64(0x9E3779B97F4A7C15)


def shingles(text: str, size: int = 3) -> list[str]:
    """Word n-grams of the normalised text (punctuation and case ignored); short texts are one shingle."""
    words = normal_words(text, ignore_punctuation=True)
    if len(words) <= size:
        return [" ".join(words)] if words else []
    return [" ".join(gram) for gram in zip(*(words[k:] for k in range(size)))]


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The chance that two texts with this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


def lsh_params(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the most selective banding that still proposes `recall` of the pairs at the threshold.

    datasketch's `_optimal_param` balances false positives against false negatives of the
    banding alone; here every candidate is verified against its signatures afterwards, so a
    false positive only costs a comparison and the banding is tuned for recall instead.
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            return bands, rows
    return num_perm, 1


def ngram_hashes(flat: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Order-sensitive 64-bit hashes of every run of `n` word hashes inside a text, and the count per text.

    Combining word hashes in numpy instead of joining n-gram strings in Python halves the time
    of a signature; the sets are the same word n-grams `shingles` returns.
    """
    counts = np.maximum(lengths - n + 1, 0)
    if len(flat) < n:
        return np.zeros(0, dtype=np.uint64), counts
    stop = len(flat) - n + 1
    grams = flat[:stop].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            grams ^= grams >> np.uint64(31)
            grams *= MIX
            grams ^= flat[k:stop + k]
    ends = np.repeat(np.cumsum(lengths), lengths)[:stop]
    return grams[np.arange(stop) + n <= ends], counts


def mix_columns(matrix: np.ndarray, seed: int) -> np.ndarray:
    """One 64-bit hash per row of a uint32 matrix (multiply-xorshift over its columns)."""
    with np.errstate(over="ignore"):
        h = np.full(len(matrix), np.uint64(seed) * MIX + np.uint64(1), dtype=np.uint64)
        for column in matrix.T:
            h = (h ^ column.astype(np.uint64)) * MIX
            h ^= h >> np.uint64(29)
    return h


class MinHashDeduper:
    """Drops texts whose Jaccard similarity to an earlier kept text is at least `threshold`.

    The similarity is estimated from the signatures, with a spread of sqrt(J(1-J)/num_perm)
    (0.035 at 0.8 with 128 permutations), so comparing the estimate with the threshold itself
    would miss half the pairs right at it. Candidates are therefore accepted from `verify_at`,
    set so that a pair exactly at the threshold is caught with probability `recall` (0.95);
    `recall=None` compares with the threshold itself.

    Per text it keeps a MinHash signature (the low 16 bits of each of `num_perm` values) and one
    32-bit key per band; the texts themselves are never held. 16-bit values overestimate the
    Jaccard similarity by at most (1 - J) / 65536.
    """

    method = "minhash"

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3, seed: int = 1,
                 bands: int | None = None, batch_size: int = 1024, bucket_window: int = 16,
                 recall: float | None = 0.95):
        self.threshold = check_threshold(threshold)
        if num_perm < 2 or ngram < 1 or batch_size < 1 or bucket_window < 1:
            raise ConfigError("num_perm must be at least 2, ngram, batch_size and bucket_window at least 1")
        if recall is not None and not 0.5 <= recall < 1:
            raise ConfigError(f"recall must be in [0.5, 1), got {recall}")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        spread = (self.threshold * (1 - self.threshold) / num_perm) ** 0.5
        margin = NormalDist().inv_cdf(recall) * spread if recall is not None else 0.0
        self.verify_at = max(self.threshold - margin, 1e-9)
        if bands is None:
            self.bands, self.rows = lsh_params(self.verify_at, num_perm)
        elif 1 <= bands <= num_perm:
            self.bands, self.rows = bands, num_perm // bands
        else:
            raise ConfigError(f"bands must be between 1 and num_perm ({num_perm}), got {bands}")
        self.batch_size, self.bucket_window = batch_size, bucket_window

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """The uint32 MinHash signature of each text's word n-grams, one row each."""
        try:
            from rensa import RMinHash
        except ImportError as exc:
            raise missing_extra("curate", exc) from None
        pad = ["\x00"] * (self.ngram - 1)  # a text shorter than an n-gram becomes one padded n-gram
        words = []
        for text in texts:
            split = normal_words(text, ignore_punctuation=True)
            words.append(split + pad[:self.ngram - len(split)] if 0 < len(split) < self.ngram else split)
        hashed = RMinHash.hash_token_sets(words)
        del words  # Python lists of str and int cost ~50 bytes a word: free them as soon as possible
        lengths = np.fromiter(map(len, hashed), dtype=np.int64, count=len(hashed))
        flat = np.fromiter(itertools.chain.from_iterable(hashed), dtype=np.uint64, count=int(lengths.sum()))
        del hashed
        grams, counts = ngram_hashes(flat, lengths, self.ngram)
        offsets = np.zeros(len(texts) + 1, dtype=np.uint64)
        np.cumsum(counts, out=offsets[1:])
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(grams, offsets, self.num_perm, self.seed)
        rows = np.fromiter(itertools.chain.from_iterable(matrix.to_rows()), dtype=np.uint32, count=len(texts) * self.num_perm)
        return rows.reshape(len(texts), self.num_perm)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """One 32-bit key per band and text; equal keys make a candidate pair."""
        keys = np.empty((len(signatures), self.bands), dtype=np.uint32)
        for b in range(self.bands):
            keys[:, b] = mix_columns(signatures[:, b * self.rows:(b + 1) * self.rows], b) >> np.uint64(32)
        return keys

    def dedup(self, texts: Iterable[str]) -> DedupResult:
        sigs, keys, whole = ChunkedRows(self.batch_size), ChunkedRows(self.batch_size), []
        for batch in batched(texts, self.batch_size):
            full = self.signatures(batch)
            del batch
            whole.append(mix_columns(full, 1 << 20))
            keys.append(self.band_keys(full))
            sigs.append(full.astype(np.uint16))
        total = len(sigs)
        if not total:
            return DedupResult(0, [], 0)
        state = sigs.nbytes + keys.nbytes + 8 * total
        copies, unique = identical_rows(np.concatenate(whole))
        del whole
        later, earlier = self.candidates(keys, unique)
        similarity = np.empty(len(later), dtype=np.float64)
        for start in range(0, len(later), 65536):
            stop = start + 65536
            same = sigs.gather(later[start:stop]) == sigs.gather(earlier[start:stop])
            similarity[start:stop] = same.mean(axis=1)
        hit = similarity >= self.verify_at
        dropped = keep_first(total, later[hit], earlier[hit], similarity[hit])
        for copy, original in copies:  # an identical signature follows its original's fate
            prior = dropped.get(original)
            dropped[copy] = Duplicate(copy, prior.kept, prior.similarity) if prior else Duplicate(copy, original, 1.0)
        duplicates = [dropped[i] for i in sorted(dropped)]
        return DedupResult(total, duplicates, total - len(duplicates), state_bytes=state)

    def candidates(self, keys: ChunkedRows, unique: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (later, earlier) that share a band, each once.

        A bucket is walked in input order and each text is paired with the `bucket_window` texts
        before it and with the bucket's first text, so a huge bucket (boilerplate) costs linear
        time instead of quadratic.
        """
        total = len(keys)
        found = []
        for b in range(self.bands):
            column = keys.column(b)[unique]
            order = np.argsort(column, kind="stable")
            ordered, ids = column[order], unique[order].astype(np.int64)
            starts = np.ones(len(ids), dtype=bool)
            starts[1:] = ordered[1:] != ordered[:-1]
            head = np.maximum.accumulate(np.where(starts, np.arange(len(ids)), 0))
            far = np.arange(len(ids)) - head > self.bucket_window
            found.append(ids[far] * total + ids[head[far]])
            for d in range(1, min(self.bucket_window, len(ids) - 1) + 1):
                same = ordered[d:] == ordered[:-d]
                found.append(ids[d:][same] * total + ids[:-d][same])
        pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        return pairs // total, pairs % total


def identical_rows(row_hashes: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(copy, first) for rows whose whole signature repeats an earlier one, and the first rows."""
    total = len(row_hashes)
    order = np.argsort(row_hashes, kind="stable")
    ordered = row_hashes[order]
    starts = np.ones(total, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    first = order[np.maximum.accumulate(np.where(starts, np.arange(total), 0))]
    copy = first != order
    pairs = list(zip(order[copy].tolist(), first[copy].tolist()))
    return pairs, np.sort(order[~copy])
