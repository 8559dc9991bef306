"""Read one document into blocks (headings and paragraphs), whatever its format.

Text and Markdown are split by their own structure; HTML goes through trafilatura (boilerplate
removal, as in web-scale corpora) to Markdown first; PDF through pypdf, page by page. A file
that cannot be read raises `Unreadable` with the reason, which ingest reports as a warning.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "Document", "Unreadable", "read_document", "SUFFIXES", "blocks_from_markdown"]

SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
            ".html": "html", ".htm": "html", ".pdf": "pdf"}


class Unreadable(Exception):
    """A file that is skipped, with the reason shown in the ingest summary."""


@dataclass
class Block:
    """A heading (level 1-6) or a paragraph (level 0) of a document."""

    text: str
    level: int = 0
    page: int | None = None


@dataclass
class Document:
    """A document's title and blocks, plus what ingest should tell the user about it."""

    path: str
    title: str
    blocks: list[Block]
    notes: list[str] = field(default_factory=list)


def read_document(path: Path, name: str, data: bytes | None = None) -> Document:
    """The document at `path` (shown as `name`; `data`: its bytes, if already read); raises
    Unreadable with the reason."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise Unreadable(f"unsupported file type {path.suffix or '(none)'}")
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    if not data.strip():
        raise Unreadable("empty file")
    if kind == "pdf":
        doc = read_pdf(data, name)
    else:
        text, notes = decode_text(data)
        if kind == "html":
            doc = read_html(text, name)
        elif kind == "markdown":
            doc = Document(name, "", blocks_from_markdown(text))
        else:
            doc = Document(name, "", blocks_from_text(text))
        doc.notes[:0] = notes
    if not doc.blocks:
        raise Unreadable("no text found")
    if not doc.title:
        doc.title = first_heading(doc.blocks) or Path(name).stem.replace("_", " ").replace("-", " ")
    return doc


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """UTF-8 if it is; else Windows-1252 (the usual legacy encoding of Western text) if it fits;
    else what charset-normalizer finds. A note says which, since any of the latter is a guess."""
    if looks_binary(data):
        raise Unreadable("binary data, not text")
    try:
        return normalise(data.decode("utf-8-sig")), []
    except UnicodeDecodeError as exc:
        position = exc.start
    try:
        return normalise(data.decode("cp1252")), [f"not UTF-8 (byte {position}); decoded as cp1252"]
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise Unreadable(f"not UTF-8 (byte {position}) and no other encoding fits")
    return normalise(str(best)), [f"not UTF-8 (byte {position}); decoded as {best.encoding}"]


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or many control characters, in the first 8 KB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) * 0.05


def normalise(text: str) -> str:
    """NFC, Unix newlines, no trailing spaces, no soft hyphens or zero-width characters."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\u00ad\u200b\u200c\u200d\ufeff]", "", text)
    return re.sub(r"[ \t]+\n", "\n", text)


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^(```|~~~)")


def blocks_from_markdown(text: str) -> list[Block]:
    """ATX and setext headings, fenced code kept whole, paragraphs split at blank lines."""
    blocks: list[Block] = []
    para: list[str] = []
    fence: str | None = None

    def end_paragraph() -> None:
        if para:
            joined = "\n".join(para).strip()
            if joined:
                blocks.append(Block(joined))
            para.clear()

    for line in text.split("\n"):
        if fence is not None:
            para.append(line)
            if line.strip().startswith(fence):
                fence = None
                end_paragraph()
            continue
        match = FENCE.match(line.strip())
        if match:
            end_paragraph()
            fence = match.group(1)
            para.append(line)
            continue
        heading = HEADING.match(line)
        if heading:
            end_paragraph()
            blocks.append(Block(heading.group(2).strip(), len(heading.group(1))))
        elif para and re.fullmatch(r"=+|-+", line.strip()) and len(para) == 1:
            blocks.append(Block(para.pop().strip(), 1 if line.strip()[0] == "=" else 2))
        elif not line.strip():
            end_paragraph()
        else:
            para.append(line)
    end_paragraph()
    return blocks


def blocks_from_text(text: str) -> list[Block]:
    """Paragraphs at blank lines; a short line on its own without end punctuation is a heading."""
    blocks: list[Block] = []
    for part in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in part.strip().split("\n")]
        if not lines or not lines[0]:
            continue
        if len(lines) == 1 and is_heading_line(lines[0]):
            blocks.append(Block(lines[0], 1 if not blocks else 2))
        else:
            blocks.append(Block(" ".join(lines)))
    return blocks


def is_heading_line(line: str) -> bool:
    return len(line) <= 80 and len(line.split()) <= 10 and not re.search(r"[.!?,;:]$", line)


def read_html(text: str, name: str) -> Document:
    """The main content of a web page (trafilatura drops navigation, footers, ads) as blocks.

    Formatting is kept so headings come out as Markdown headings; bold and italics are then
    unwrapped, since chunks are prompt text."""
    import trafilatura

    markdown = trafilatura.extract(text, output_format="markdown", include_comments=False,
                                   include_tables=True, include_formatting=True, favor_recall=True)
    if not markdown:
        raise Unreadable("no main text found in the HTML")
    markdown = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*|(?<!\w)\*(\S(?:.*?\S)?)\*(?!\w)", lambda m: m.group(1) or m.group(2), markdown)
    meta = trafilatura.extract_metadata(text)
    title = (meta.title or "").strip() if meta else ""
    return Document(name, title, blocks_from_markdown(normalise(markdown)))


def read_pdf(data: bytes, name: str) -> Document:
    """Text of every page (pypdf); encrypted files are opened only if the password is empty."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (needs a password)")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.get("/Title") or "").strip() if reader.metadata is not None else ""
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable(f"unreadable PDF: {str(exc)[:120] or type(exc).__name__}") from None
    except Exception as exc:  # pypdf raises many internal types on damaged files
        if "crypt" in str(exc).lower() or "AES" in str(exc):
            raise Unreadable(f"encrypted PDF ({str(exc)[:120]})") from None
        raise Unreadable(f"unreadable PDF: {str(exc)[:120] or type(exc).__name__}") from None
    blocks: list[Block] = []
    for number, text in enumerate(pages, 1):
        for block in blocks_from_text(dehyphenate(normalise(text))):
            block.page = number
            blocks.append(block)
    if not blocks:
        raise Unreadable("PDF has no extractable text (scanned images?)")
    return Document(name, title, blocks)


def dehyphenate(text: str) -> str:
    """Join words broken across PDF lines ("photo-\\nsynthesis")."""
    return re.sub(r"(\w)-\n(\w)", r"\1\2", text)


def first_heading(blocks: list[Block]) -> str | None:
    return next((b.text for b in blocks if b.level), None)
