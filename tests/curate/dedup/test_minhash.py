"""MinHash-LSH dedup on planted near-duplicates: recall, no false drops, keep-first, determinism."""

from __future__ import annotations

import pytest

from synthloom.curate.dedup import MinHashDeduper, lsh_params, shingles
from synthloom.curate.dedup.minhash import candidate_probability
from synthloom.errors import ConfigError

from .conftest import jaccard


def recall(dropped, near, texts, low, high=1.01):
    pairs = [(copy, source) for copy, source in near.items() if low <= jaccard(texts[copy], texts[source]) < high]
    assert len(pairs) >= 20, (low, high, len(pairs))
    return sum(copy in dropped for copy, _ in pairs) / len(pairs)


def test_planted_near_duplicates_are_found_and_the_rest_kept(planted):
    texts, near, far = planted
    result = MinHashDeduper(threshold=0.8).dedup(iter(texts))
    dropped = {d.index: d for d in result.duplicates}
    assert recall(dropped, near, texts, 0.82) >= 0.95
    assert recall(dropped, near, texts, 0.8) >= 0.9
    assert not [i for i in range(300) if i in dropped], "an original was dropped"
    assert not [i for i in far if i in dropped], "a copy at Jaccard ≤ 0.65 was dropped"
    for copy, source in near.items():
        if copy in dropped:
            assert dropped[copy].kept == source
    assert result.total == len(texts)
    assert result.clusters == len(texts) - len(result.duplicates)


def test_right_at_the_threshold_the_estimate_is_a_coin_flip_unless_verified_below_it(planted):
    """128 permutations estimate Jaccard 0.8 with sd 0.035, so pairs at 0.80-0.82 are found about half
    the time when the estimate is compared with the threshold itself (recall=None); the default
    accepts from 1.65 sd below, catching 95% of the pairs right at the threshold."""
    texts, near, far = planted
    strict = MinHashDeduper(threshold=0.8, recall=None).dedup(texts).dropped_indices()
    assert 0.2 <= recall(strict, near, texts, 0.8, 0.82) <= 0.8
    default = MinHashDeduper(threshold=0.8)
    assert abs(default.verify_at - (0.8 - 1.645 * (0.8 * 0.2 / 128) ** 0.5)) < 1e-3
    found = default.dedup(texts).dropped_indices()
    assert recall(found, near, texts, 0.8) >= 0.95
    assert not found & set(far)


def test_every_drop_points_back_to_a_kept_similar_text(planted):
    texts, _, _ = planted
    result = MinHashDeduper(threshold=0.8).dedup(texts)
    dropped = result.dropped_indices()
    assert result.duplicates
    assert [d.index for d in result.duplicates] == sorted(dropped)
    for d in result.duplicates:
        assert d.kept < d.index and d.kept not in dropped
        assert d.similarity >= 0.74
        assert jaccard(texts[d.index], texts[d.kept]) >= 0.65  # the estimate is near the truth


def test_same_result_twice_and_for_any_batch_size(planted):
    texts = planted[0]
    first = MinHashDeduper().dedup(texts)
    assert MinHashDeduper().dedup(list(texts)) == first
    assert MinHashDeduper(batch_size=37).dedup(t for t in texts) == first


def test_a_large_bucket_of_copies_keeps_only_the_first():
    base = " ".join(f"word{i}" for i in range(60))
    variants = [base.replace("word30", f"x{k}") if k % 2 else base for k in range(200)]
    texts = ["an unrelated text about something else entirely"] + variants
    result = MinHashDeduper(bucket_window=4).dedup(texts)
    assert {d.index for d in result.duplicates} == set(range(2, 201))
    assert {d.kept for d in result.duplicates} == {1}
    assert result.clusters == 2


def test_identical_copy_of_a_dropped_text_follows_it():
    base = " ".join(f"word{i}" for i in range(60))
    near = base.replace("word30", "other")
    result = MinHashDeduper().dedup([base, near, "something different altogether here", near])
    assert [(d.index, d.kept) for d in result.duplicates] == [(1, 0), (3, 0)]
    assert result.duplicates[0].similarity == result.duplicates[1].similarity < 1.0


def test_state_is_compact_and_empty_input():
    result = MinHashDeduper().dedup(f"text number {i} with a few words" for i in range(100))
    assert not result.duplicates and result.clusters == 100
    assert 128 * 2 <= result.bytes_per_document() <= 512
    assert MinHashDeduper().dedup([]) == MinHashDeduper().dedup(iter(()))
    assert MinHashDeduper().dedup([]).total == 0


def test_shingles_ignore_case_and_punctuation():
    assert shingles("The cat, sat. ON the mat!") == ["the cat sat", "cat sat on", "sat on the", "on the mat"]
    assert shingles("Hi there") == ["hi there"]
    assert shingles("  ") == []


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9, 0.95])
def test_banding_proposes_pairs_at_the_threshold(threshold):
    bands, rows = lsh_params(threshold, 128)
    assert bands * rows <= 128
    assert candidate_probability(threshold, bands, rows) >= 0.99
    assert candidate_probability(threshold, 128 // (rows + 1), rows + 1) < 0.99 or rows == 128


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"threshold": 1.5}, {"num_perm": 1}, {"bands": 500}])
def test_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        MinHashDeduper(**kwargs)
