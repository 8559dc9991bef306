"""Entity coverage, label balance and length distribution on rows with known counts."""

from __future__ import annotations

import json

import pytest

from synthloom.metrics import entity_coverage, label_balance, length_distribution

ROWS = [
    {"verb": "run", "features": ["dialogue", "twist"], "persona": {"name": "Ann", "age": 7}, "label": "pos"},
    {"verb": "run", "features": ["twist", "moral"], "persona": {"age": 7, "name": "Ann"}, "label": "neg"},
    {"verb": "jump", "features": ["dialogue", "moral"], "persona": {"name": "Bo", "age": 9}, "label": "pos"},
    {"verb": "run", "features": ["moral", "twist"], "label": "pos"},
]
SLOTS = {"verb": {"list": "verbs", "size": 4, "k": 1}, "features": {"list": "features", "size": 3, "k": 2},
         "persona": {"list": "people", "size": 2, "k": 1}}


def test_entity_coverage_counts_strings_lists_and_dicts():
    cov = entity_coverage(ROWS, SLOTS)
    verb = cov["verb"]
    assert verb["list"] == "verbs" and verb["size"] == 4 and verb["records"] == 4
    assert verb["used"] == 2 and verb["fraction"] == pytest.approx(0.5)
    assert verb["counts"] == {"run": 3, "jump": 1}
    assert (verb["min_uses"], verb["max_uses"], verb["min_uses_all"]) == (1, 3, 0)
    feats = cov["features"]
    assert feats["counts"] == {"twist": 3, "moral": 3, "dialogue": 2}
    assert feats["fraction"] == 1.0 and feats["min_uses_all"] == 2 == feats["min_uses"]
    people = cov["persona"]
    assert people["records"] == 3 and people["used"] == 2  # key order does not make a new value
    assert people["counts"][json.dumps({"age": 7, "name": "Ann"})] == 2


def test_entity_coverage_without_a_list_size():
    cov = entity_coverage(ROWS, {"label": {}})
    assert cov["label"]["used"] == 2 and cov["label"]["fraction"] is None and cov["label"]["min_uses_all"] is None


def test_label_balance():
    bal = label_balance(ROWS, "label")
    assert bal["counts"] == {"pos": 3, "neg": 1} and bal["classes"] == 2
    assert bal["majority_fraction"] == pytest.approx(0.75) and bal["max_min_ratio"] == 3
    assert 0 < bal["entropy"] < 1
    even = label_balance([{"y": "a"}, {"y": "b"}] * 5, "y")
    assert even["entropy"] == pytest.approx(1.0) and even["max_min_ratio"] == 1


def test_length_distribution():
    texts = ["one two three", "one", "a b c d e f g h i j"] * 10
    dist = length_distribution(texts, bins=5)
    assert dist["n"] == 30 and dist["min"] == 1 and dist["max"] == 10
    assert dist["mean"] == pytest.approx(14 / 3) and dist["p50"] == 3
    hist = dist["histogram"]
    assert len(hist["edges"]) == len(hist["counts"]) + 1 == 6 and sum(hist["counts"]) == 30
    assert length_distribution([])["histogram"] is None
