import pytest

from synthloom.corpus.chunking import ChunkSettings, chunk_document, split_sentences
from synthloom.corpus.readers import Block, Document, blocks_from_markdown


def words(text):
    return len(text.split())


def doc(*blocks):
    return Document("d.md", "Title", list(blocks))


def test_headings_start_new_chunks_and_name_the_section():
    chunks = chunk_document(doc(Block("Title", 1), Block("Intro", 2), Block("alpha " * 30),
                                Block("Details", 2), Block("beta " * 30)), words, ChunkSettings(100, 10, 20))
    assert [c.section for c in chunks] == ["Intro", "Details"]
    assert "beta" not in chunks[0].text and "alpha" not in chunks[1].text
    assert [c.id for c in chunks] == ["d.md#0", "d.md#1"] and [c.position for c in chunks] == [0, 1]


def test_a_section_too_small_to_stand_alone_joins_the_next():
    chunks = chunk_document(doc(Block("Tiny", 2), Block("one two three"), Block("Big", 2), Block("word " * 40)),
                            words, ChunkSettings(100, 10, 20))
    assert len(chunks) == 1 and chunks[0].text.startswith("one two three")


def test_every_chunk_is_within_the_budget_and_nothing_is_lost():
    sentences = [f"Sentence number {i} says something about topic {i % 7}." for i in range(120)]
    paragraphs = [" ".join(sentences[i:i + 6]) for i in range(0, 120, 6)]
    settings = ChunkSettings(max_tokens=60, overlap=12, min_tokens=10)
    chunks = chunk_document(doc(*(Block(p) for p in paragraphs)), words, settings)
    assert len(chunks) > 10
    assert all(words(c.text) <= 60 for c in chunks)
    text = " ".join(c.text for c in chunks)
    assert all(s in text for s in sentences)


def test_neighbouring_chunks_overlap_by_whole_sentences_within_the_budget():
    sentences = [f"Fact {i} is about the river delta and its mud." for i in range(40)]
    chunks = chunk_document(doc(Block(" ".join(sentences))), words, ChunkSettings(60, 20, 10))
    assert len(chunks) >= 3
    for before, after in zip(chunks, chunks[1:]):
        first = split_sentences(after.text)[0]
        assert first in split_sentences(before.text), "the next chunk starts with a sentence of the previous one"
        shared = [s for s in split_sentences(after.text) if s in split_sentences(before.text)]
        assert 0 < sum(words(s) for s in shared) <= 20


def test_no_overlap_when_asked_for_none():
    sentences = [f"Fact {i} is about the river delta and its mud." for i in range(40)]
    chunks = chunk_document(doc(Block(" ".join(sentences))), words, ChunkSettings(60, 0, 10))
    joined = [s for c in chunks for s in split_sentences(c.text)]
    assert joined == sentences


def test_a_sentence_longer_than_the_budget_is_cut_at_words():
    chunks = chunk_document(doc(Block("x " * 250)), words, ChunkSettings(100, 0, 10))
    assert [words(c.text) for c in chunks] == [100, 100, 50]


def test_overlap_does_not_cross_sections():
    sentences = " ".join(f"Claim {i} holds." for i in range(30))
    chunks = chunk_document(doc(Block("A", 2), Block(sentences), Block("B", 2), Block("Other text here entirely. " * 3)),
                            words, ChunkSettings(40, 8, 5))
    last = chunks[-1]
    assert last.section == "B" and "Claim" not in last.text


def test_real_token_counts_respect_the_budget(embedder):
    text = " ".join(f"The glacier number {i} moved {i * 3} metres down the valley last year." for i in range(200))
    chunks = chunk_document(doc(Block(text)), embedder.count, ChunkSettings(128, 16, 32))
    assert all(embedder.count(c.text) <= 128 for c in chunks)
    assert all(c.tokens == embedder.count(c.text) for c in chunks)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        ChunkSettings(max_tokens=100, overlap=60)
    with pytest.raises(ValueError, match="at least 16"):
        ChunkSettings(max_tokens=8, overlap=0)


def test_markdown_structure():
    blocks = blocks_from_markdown("# Top\n\nPara one\nstill one.\n\nSetext\n------\n\n```\ncode\n\nmore\n```\n\n## Sub ##\ntext")
    assert [(b.level, b.text) for b in blocks] == [
        (1, "Top"), (0, "Para one\nstill one."), (2, "Setext"), (0, "```\ncode\n\nmore\n```"), (2, "Sub"), (0, "text")]
