"""Exact dedup after normalisation: case, whitespace, Unicode forms, optional punctuation."""

from __future__ import annotations

from synthloom.curate.dedup import ExactDeduper, normalise_text


def test_case_and_whitespace_variants_are_dropped_keep_first():
    texts = ["Hello  world", "other", "hello world", " HELLO\tWORLD\n", "other ", "different"]
    result = ExactDeduper().dedup(iter(texts))
    assert [(d.index, d.kept, d.similarity) for d in result.duplicates] == [(2, 0, 1.0), (3, 0, 1.0), (4, 1, 1.0)]
    assert result.total == 6 and result.clusters == 3 and result.kept == 3


def test_unicode_compatibility_forms_match():
    assert normalise_text("ＨＥＬＬＯ　ｗｏｒｌｄ") == "hello world"
    assert len(ExactDeduper().dedup(["ＨＥＬＬＯ　ｗｏｒｌｄ", "hello world"]).duplicates) == 1


def test_punctuation_matters_unless_ignored():
    texts = ["Hello, world!", "hello world", "Hello — world…"]
    assert ExactDeduper().dedup(texts).duplicates == []
    loose = ExactDeduper(ignore_punctuation=True).dedup(texts)
    assert [(d.index, d.kept) for d in loose.duplicates] == [(1, 0), (2, 0)]


def test_case_can_matter():
    assert ExactDeduper(ignore_case=False).dedup(["Hello", "hello"]).duplicates == []


def test_many_groups_streamed_deterministic():
    texts = (f"Text {i % 50}" for i in range(1000))
    result = ExactDeduper().dedup(texts)
    assert len(result.duplicates) == 950 and result.clusters == 50
    assert all(d.kept == d.index % 50 for d in result.duplicates)
    assert result.bytes_per_document() == 16
    assert ExactDeduper().dedup(f"Text {i % 50}" for i in range(1000)) == result


def test_empty():
    result = ExactDeduper().dedup([])
    assert (result.total, result.duplicates, result.clusters) == (0, [], 0)
