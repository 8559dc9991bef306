"""Judge–human agreement: Cohen's kappa as scikit-learn computes it, the table, thresholds."""

from __future__ import annotations

import pytest

from synthloom.review.agreement import agreement, cohen_kappa, judge_fields


def test_kappa_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    judge = ["pass"] * 20 + ["fail"] * 15 + ["pass"] * 5 + ["fail"] * 10
    human = ["acc"] * 20 + ["rej"] * 15 + ["rej"] * 5 + ["acc"] * 10
    table = [[20, 5], [10, 15]]  # rows judge pass/fail, columns accepted/rejected
    expected = metrics.cohen_kappa_score([j == "pass" for j in judge], [h == "acc" for h in human])
    assert cohen_kappa(table) == pytest.approx(expected, abs=1e-4)
    assert cohen_kappa([[10, 0], [0, 10]]) == 1.0
    assert cohen_kappa([[5, 0], [0, 0]]) is None  # one answer each: undefined
    assert cohen_kappa([[0, 0], [0, 0]]) is None


def test_agreement_table_by_score_and_threshold():
    by_score = {1: {"rejected": 6}, 2: {"rejected": 3, "accepted": 1}, 4: {"accepted": 7, "rejected": 1}, 5: {"accepted": 4}}
    found = agreement(by_score, [1, 5], 3)
    assert found["confusion"]["table"] == [[11, 1], [1, 9]]
    assert found["decided"] == 22 and found["agreement"] == round(20 / 22, 4)
    assert found["kappa"] == pytest.approx(cohen_kappa([[11, 1], [1, 9]]))
    by_cut = {k["threshold"]: k["kappa"] for k in found["kappa_by_threshold"]}
    assert set(by_cut) == {2, 3, 4, 5} and by_cut[3] == max(by_cut.values())
    assert agreement(by_score, [1, 5], None)["threshold"] == 3  # no recipe threshold: the scale's middle


def test_judge_fields_take_the_recipe_threshold():
    recipe = {"stages": [{"kind": "judge", "name": "q", "scale": [1, 10], "threshold": 7}, {"name": "gen"}]}
    schema = {"score_fields": {"q": [1, 10], "other": [0, 3]}}
    assert judge_fields(recipe, schema) == {"q": {"scale": [1, 10], "threshold": 7}, "other": {"scale": [0, 3], "threshold": None}}
