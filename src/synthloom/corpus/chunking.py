"""Split a document into chunks by its structure, within a token budget, with overlap.

A chunk never crosses into a new section unless the section so far is too small to stand on
its own; paragraphs stay whole when they fit, else are cut at sentences, else at words.
Consecutive chunks of one section share up to `overlap` tokens of whole sentences, so a fact
that straddles a boundary is whole in at least one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .readers import Document

__all__ = ["Chunk", "ChunkSettings", "chunk_document", "split_sentences"]

TokenCounter = Callable[[str], int]

SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True)
class ChunkSettings:
    """The token budget of a chunk, the overlap between neighbours, the smallest section kept alone."""

    max_tokens: int = 256
    overlap: int = 32
    min_tokens: int = 48

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"chunk size must be at least 16 tokens, got {self.max_tokens}")
        if not 0 <= self.overlap < self.max_tokens // 2:
            raise ValueError(f"overlap must be between 0 and half the chunk size ({self.max_tokens // 2}), got {self.overlap}")


@dataclass
class Chunk:
    """A piece of a document, with where it came from."""

    id: str
    doc: str
    title: str
    section: str
    position: int
    text: str
    tokens: int
    page: int | None = None

    def as_item(self) -> dict[str, str]:
        """The chunk as an entity item for templates: {{ chunk.text }}, {{ chunk.id }}, ..."""
        return {"id": self.id, "doc": self.doc, "title": self.title, "section": self.section,
                "position": str(self.position), "text": self.text}

    def indexed_text(self) -> str:
        """What search sees: the title and section path make a chunk findable by its topic."""
        return " \n".join(part for part in (self.title, self.section, self.text) if part)


ABBREVIATION = re.compile(r"(?:\b(?:St|Mt|Mr|Mrs|Ms|Dr|Prof|Sr|Jr|vs|etc|approx|Fig|No|Vol|Inc|Ltd|Co|ca|cf)|\b[A-Z]|e\.g|i\.e|U\.S)\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences, not cut after abbreviations such as "Mt." or "e.g." or an initial ("J. Smith")."""
    sentences: list[str] = []
    for piece in SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if sentences and ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def split_words(text: str, count: TokenCounter, budget: int) -> list[str]:
    """Cut an over-long sentence into word runs of at most `budget` tokens (linear: each word is
    counted once, and a run the joined count finds too long is halved)."""
    pieces: list[str] = []
    words: list[str] = []
    used = 0
    for word in text.split():
        size = count(word)
        if words and used + size > budget:
            pieces.append(" ".join(words))
            words, used = [], 0
        words.append(word)
        used += size
    if words:
        pieces.append(" ".join(words))
    return [part for piece in pieces for part in fit(piece, count, budget)]


def fit(piece: str, count: TokenCounter, budget: int) -> list[str]:
    if count(piece) <= budget or len(piece.split()) < 2:
        return [piece]
    words = piece.split()
    half = len(words) // 2
    return fit(" ".join(words[:half]), count, budget) + fit(" ".join(words[half:]), count, budget)


def units_of(paragraph: str, count: TokenCounter, budget: int, size: int | None = None) -> list[tuple[str, int]]:
    """A paragraph as packable units (whole, else sentences, else word runs) with token counts."""
    size = count(paragraph) if size is None else size
    if size <= budget:
        return [(paragraph, size)]
    units: list[tuple[str, int]] = []
    for sentence in split_sentences(paragraph):
        size = count(sentence)
        if size <= budget:
            units.append((sentence, size))
        else:
            units.extend((piece, count(piece)) for piece in split_words(sentence, count, budget))
    return units


class ChunkBuilder:
    """Packs units into chunks for one document."""

    def __init__(self, doc: Document, count: TokenCounter, settings: ChunkSettings):
        self.doc, self.count, self.settings = doc, count, settings
        self.chunks: list[Chunk] = []
        self.units: list[tuple[str, int]] = []
        self.section = ""
        self.page: int | None = None
        self.carried = 0  # how many of `units` are the previous chunk's overlap tail

    def used(self) -> int:
        return sum(size for _, size in self.units) + len(self.units)

    def add(self, text: str, size: int, page: int | None) -> None:
        if self.units and self.used() + size + 1 > self.settings.max_tokens:
            if len(self.units) == self.carried:
                self.units = []  # the overlap alone would be a chunk repeating the last one
            else:
                self.emit(carry=True)
        if not self.units:
            self.page = page
        self.units.append((text, size))

    def section_break(self) -> None:
        """A heading: close the chunk unless its section is still too small to stand alone."""
        if len(self.units) == self.carried:
            self.units, self.carried = [], 0  # overlap does not cross into a new section
        elif self.used() >= self.settings.min_tokens:
            self.emit()

    def emit(self, carry: bool = False) -> None:
        """Close the current chunk; with `carry`, start the next one with its overlap tail."""
        if not self.units:
            return
        size = self.count(self.joined())
        while len(self.units) > 1 and size > self.settings.max_tokens:
            self.units.pop()  # token counts of parts can undercount the joined text by a few
            size = self.count(self.joined())
        text = self.joined()
        position = len(self.chunks)
        self.chunks.append(Chunk(f"{self.doc.path}#{position}", self.doc.path, self.doc.title, self.section,
                                 position, text, size, self.page))
        self.units = self.overlap_tail(text) if carry and self.settings.overlap else []
        self.carried = len(self.units)

    def overlap_tail(self, text: str) -> list[tuple[str, int]]:
        """The last whole sentences of `text` that fit in the overlap budget."""
        tail: list[tuple[str, int]] = []
        sentences = split_sentences(text)
        for sentence in reversed(sentences[1:]):
            size = self.count(sentence)
            if sum(s for _, s in tail) + size > self.settings.overlap:
                break
            tail.insert(0, (sentence, size))
        return tail

    def joined(self) -> str:
        return "\n\n".join(text for text, _ in self.units) if len(self.units) > 1 else self.units[0][0]


def chunk_document(doc: Document, count: TokenCounter, settings: ChunkSettings = ChunkSettings(),
                   count_many: Callable[[list[str]], list[int]] | None = None) -> list[Chunk]:
    """The document's chunks in reading order; each within `settings.max_tokens`.

    `count_many`, if given, counts all paragraphs in one batch (a Rust tokenizer does that on
    every core) instead of one call each."""
    builder = ChunkBuilder(doc, count, settings)
    path: list[tuple[int, str]] = []
    paragraphs = [b.text for b in doc.blocks if not b.level]
    sizes = iter(count_many(paragraphs) if count_many else [None] * len(paragraphs))
    for block in doc.blocks:
        if block.level:
            builder.section_break()
            path = [(lvl, text) for lvl, text in path if lvl < block.level] + [(block.level, block.text)]
            if not builder.units:
                builder.section = " > ".join(text for lvl, text in path if text != doc.title)
            continue
        for text, size in units_of(block.text, count, settings.max_tokens, next(sizes)):
            builder.add(text, size, block.page)
    builder.emit()
    return builder.chunks
