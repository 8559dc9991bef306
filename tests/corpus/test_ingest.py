import io
import json

import pytest

from synthloom.corpus import ingest, load_index
from synthloom.corpus.store import MANIFEST, read_chunks
from synthloom.errors import ConfigError
from tests.conftest import ROOT

EXAMPLE = ROOT / "data" / "corpus" / "earth_science"


def test_ingests_every_format_keeping_document_title_and_position(docs, tmp_path, embedder):
    report = ingest([docs], tmp_path / "c", embedder=embedder)
    assert report.written and report.new == 4 and not report.warnings()
    chunks = read_chunks(tmp_path / "c")
    assert {c.doc for c in chunks} == {"photosynthesis.md", "honeybees.md", "bridges.txt", "lighthouse.html"}
    light = [c for c in chunks if c.doc == "lighthouse.html"]
    assert light[0].title == "The Eddystone Lighthouse"
    text = " ".join(c.text for c in light)
    assert "James Douglass" in text and "Smeaton" in text
    assert "cookies" not in text and "Privacy" not in text and "Log in" not in text and "tracking" not in text
    for doc in {c.doc for c in chunks}:
        positions = [c.position for c in chunks if c.doc == doc]
        assert positions == list(range(len(positions)))


def test_reingesting_unchanged_files_does_nothing(docs, tmp_path, embedder):
    ingest([docs], tmp_path / "c", embedder=embedder)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "c").iterdir()}
    report = ingest([docs], tmp_path / "c", embedder=embedder)
    assert not report.written and report.unchanged == 4 and report.bytes_read == 0
    assert "nothing to do" in report.summary()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "c").iterdir()} == before


def test_a_changed_file_is_the_only_one_read_again(docs, tmp_path, embedder):
    out = tmp_path / "c"
    ingest([docs], out, embedder=embedder)
    (docs / "bridges.txt").write_text("Cable-stayed bridges\n\nThe Russky Bridge has a span of 1,104 metres.\n")
    (docs / "honeybees.md").unlink()
    report = ingest([docs], out, embedder=embedder)
    assert (report.changed, report.unchanged, report.removed, report.new) == (1, 2, 1, 0)
    assert report.bytes_read == (docs / "bridges.txt").stat().st_size
    index = load_index(out, embedder)
    assert index.search("Russky Bridge span", 1)[0].chunk.doc == "bridges.txt"
    assert all(c.doc != "honeybees.md" for c in index.chunks)
    # the reused embeddings are the ones a fresh ingest computes
    fresh = load_index(ingest_fresh(docs, tmp_path / "fresh", embedder), embedder)
    assert [c.id for c in fresh.chunks] == [c.id for c in index.chunks]
    assert abs(fresh.embeddings - index.embeddings).max() < 1e-2


def ingest_fresh(docs, out, embedder):
    ingest([docs], out, embedder=embedder)
    return out


def test_changed_settings_rechunk_everything(docs, tmp_path, embedder):
    from synthloom.corpus import ChunkSettings

    ingest([docs], tmp_path / "c", embedder=embedder)
    report = ingest([docs], tmp_path / "c", ChunkSettings(64, 8, 16), embedder=embedder)
    assert report.written and report.new == 4


def test_bad_files_are_warnings_and_the_rest_is_ingested(docs, tmp_path, embedder):
    (docs / "empty.md").write_text("")
    (docs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (docs / "latin1.txt").write_bytes("Crème brûlée is a French dessert with a caramel crust.\n".encode("latin-1"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ngarbage\n%%EOF")
    (docs / "fake.pdf").write_text("not a pdf at all")
    (docs / "encrypted.pdf").write_bytes(encrypted_pdf())
    (docs / "notes.docx").write_bytes(b"PK\x03\x04")
    report = ingest([docs], tmp_path / "c", embedder=embedder)
    warnings = "\n".join(report.warnings())
    assert "empty.md: skipped: empty file" in warnings
    assert "binary.txt: skipped: binary data" in warnings
    assert "broken.pdf: skipped: unreadable PDF" in warnings or "broken.pdf: skipped: PDF has no" in warnings
    assert "fake.pdf: skipped: unreadable PDF" in warnings
    assert "encrypted.pdf: skipped: encrypted PDF" in warnings
    assert "latin1.txt: not UTF-8" in warnings
    assert report.ignored == 1  # .docx is not a supported type
    chunks = read_chunks(tmp_path / "c")
    assert any("Crème brûlée" in c.text for c in chunks)
    assert {c.doc for c in chunks} >= {"photosynthesis.md", "bridges.txt", "latin1.txt"}
    again = ingest([docs], tmp_path / "c", embedder=embedder)
    assert not again.written and len(again.warnings()) == len(report.warnings()), "warnings are remembered"


def encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_folder_with_nothing_readable_is_an_error(tmp_path, embedder):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("")
    with pytest.raises(ConfigError, match="no readable documents.*empty file"):
        ingest([tmp_path / "d"], tmp_path / "c", embedder=embedder)
    with pytest.raises(ConfigError, match="no such file"):
        ingest([tmp_path / "missing"], tmp_path / "c", embedder=embedder)


def test_an_interrupted_ingest_is_detected_and_redone(docs, tmp_path, embedder):
    out = tmp_path / "c"
    ingest([docs], out, embedder=embedder)
    with (out / "chunks.jsonl").open("a") as f:
        f.write('{"torn": ')
    with pytest.raises(ConfigError, match="did not finish"):
        load_index(out, embedder)
    report = ingest([docs], out, embedder=embedder)
    assert report.written and report.new == 4
    assert len(load_index(out, embedder)) == report.chunks


def test_pdf_text_and_page_numbers(tmp_path, embedder):
    pdfs = sorted(EXAMPLE.glob("*.pdf"))
    if not pdfs:
        pytest.skip("example corpus has no PDF")
    ingest(pdfs, tmp_path / "c", embedder=embedder)
    chunks = read_chunks(tmp_path / "c")
    assert chunks and all(c.page and c.page >= 1 for c in chunks)
    assert len(" ".join(c.text for c in chunks).split()) > 300
    assert json.loads((tmp_path / "c" / MANIFEST).read_text())["files"][pdfs[0].name]["title"]


def test_example_corpus_keeps_html_and_pdf_structure(tmp_path, embedder):
    report = ingest([EXAMPLE], tmp_path / "c", embedder=embedder)
    assert report.files == 8 and not report.warnings()
    chunks = read_chunks(tmp_path / "c")
    quake = [c for c in chunks if c.doc == "earthquakes.html"]
    assert quake[0].title.startswith("Earthquakes") and all(c.section for c in quake[1:])
    assert not any("**" in c.text or "Privacy" in c.text or "cookie" in c.text.lower() for c in quake)
    assert {c.doc for c in chunks} == {p.name for p in EXAMPLE.iterdir()}
