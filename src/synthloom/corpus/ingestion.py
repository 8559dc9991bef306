"""`ingest`: documents in, a searchable corpus directory out; unchanged files cost nothing.

Each file is identified by its path under the source and the SHA-256 of its bytes. Re-running
on unchanged files with the same settings writes nothing; otherwise only new or changed files
are read and embedded again, and the BM25 index is rebuilt (it takes milliseconds).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .chunking import Chunk, ChunkSettings, chunk_document
from .embed import Embedder, load_embedder
from .readers import SUFFIXES, Unreadable, read_document
from .store import EMBEDDINGS, read_chunks, read_manifest, write_corpus

__all__ = ["ingest", "IngestReport", "collect_files"]


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    out: Path
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    ignored: int = 0
    chunks: int = 0
    tokens: int = 0
    read_chunks: int = 0
    bytes_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    written: bool = False
    seconds: float = 0.0

    def warnings(self) -> list[str]:
        return [f"{name}: skipped: {why}" for name, why in self.skipped] + [f"{name}: {note}" for name, note in self.notes]

    def summary(self) -> str:
        if not self.written:
            return f"{self.out}: up to date ({self.files} files, {self.chunks} chunks); nothing to do"
        parts = [f"{n} {label}" for n, label in ((self.new, "new"), (self.changed, "changed"), (self.unchanged, "unchanged"),
                                                 (self.removed, "removed")) if n]
        warned = f"; {len(self.warnings())} warning(s)" if self.warnings() else ""
        return (f"{self.out}: {self.files} files ({', '.join(parts) or 'none'}) -> {self.chunks} chunks, "
                f"{self.tokens:,} tokens in {self.seconds:.1f} s{warned}")


def collect_files(sources: list[Path], out: Path | None = None) -> tuple[list[tuple[str, Path]], int]:
    """(name, path) of every supported file under the sources, sorted; and how many were ignored."""
    found: dict[str, Path] = {}
    ignored = 0
    skip = out.resolve() if out else None
    for source in sources:
        if source.is_file():
            candidates = [(source.name, source)]
        elif source.is_dir():
            candidates = [(p.relative_to(source).as_posix(), p) for p in sorted(source.rglob("*"))
                          if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
                          and (skip is None or skip not in p.resolve().parents)]
        else:
            raise ConfigError(f"{source}: no such file or directory")
        for name, path in candidates:
            if path.suffix.lower() not in SUFFIXES:
                ignored += 1
                continue
            if name in found and found[name] != path:
                raise ConfigError(f"two sources have a file named {name} ({found[name]} and {path})")
            found[name] = path
    return sorted(found.items()), ignored


def ingest(sources: list[Path] | Path, out: Path, settings: ChunkSettings = ChunkSettings(),
           embedder: Embedder | None = None, on_file: Callable[[str], None] | None = None) -> IngestReport:
    """Read, chunk, embed and index the documents under `sources` into the directory `out`."""
    started = time.perf_counter()
    sources = [sources] if isinstance(sources, Path) else list(sources)
    out = Path(out)
    report = IngestReport(out)
    files, report.ignored = collect_files(sources, out)
    old = read_manifest(out) if out.is_dir() else None
    embedder = embedder or load_embedder()
    wanted = {"max_tokens": settings.max_tokens, "overlap": settings.overlap, "min_tokens": settings.min_tokens,
              "embedder": embedder.name}
    same_settings = old is not None and old.get("settings") == wanted
    old_files: dict[str, Any] = old["files"] if old is not None and same_settings else {}
    old_chunks: dict[str, list[tuple[int, Chunk]]] = {}
    if same_settings:
        for row, chunk in enumerate(read_chunks(out)):
            old_chunks.setdefault(chunk.doc, []).append((row, chunk))

    entries: dict[str, dict] = {}
    chunks: list[Chunk] = []
    reuse: list[int | None] = []  # row of the old embedding for each chunk, or None to embed
    for name, path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.skipped.append((name, f"cannot read: {exc.strerror}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        previous = old_files.get(name)
        if previous and previous["sha256"] == digest:
            report.unchanged += 1
            entries[name] = previous
            report.skipped.extend((name, w) for w in previous.get("skipped", []))
            report.notes.extend((name, w) for w in previous.get("notes", []))
            for row, chunk in old_chunks.get(name, []):
                chunks.append(chunk)
                reuse.append(row)
            continue
        report.changed += previous is not None
        report.new += previous is None
        report.bytes_read += len(data)
        if on_file:
            on_file(name)
        entry: dict = {"sha256": digest, "bytes": len(data)}
        try:
            doc = read_document(path, name, data)
        except Unreadable as exc:
            report.skipped.append((name, str(exc)))
            entries[name] = entry | {"chunks": 0, "skipped": [str(exc)]}
            continue
        made = chunk_document(doc, embedder.count, settings, embedder.count_many)
        entries[name] = entry | {"chunks": len(made), "title": doc.title, "notes": doc.notes}
        report.notes.extend((name, note) for note in doc.notes)
        report.read_chunks += len(made)
        chunks.extend(made)
        reuse.extend([None] * len(made))

    report.files = len(files)
    report.removed = len(set(old_files) - set(entries))
    report.chunks = len(chunks)
    report.tokens = sum(c.tokens for c in chunks)
    if same_settings and not report.new and not report.changed and not report.removed:
        report.seconds = time.perf_counter() - started
        return report
    if not chunks:
        raise ConfigError(f"no readable documents in {', '.join(map(str, sources))}"
                          + (f" ({'; '.join(report.warnings()[:3])})" if report.warnings() else ""))
    out.mkdir(parents=True, exist_ok=True)
    embeddings = embed_chunks(chunks, reuse, out if same_settings else None, embedder)
    write_corpus(out, chunks, embeddings, {"settings": wanted, "files": entries})
    report.written = True
    report.seconds = time.perf_counter() - started
    return report


def embed_chunks(chunks: list[Chunk], reuse: list[int | None], old_dir: Path | None, embedder: Embedder) -> np.ndarray:
    """Embeddings for every chunk: old rows where the file was unchanged, fresh ones otherwise."""
    fresh = [i for i, row in enumerate(reuse) if row is None]
    vectors = np.zeros((len(chunks), 256), dtype=np.float32)
    if fresh:
        vectors[fresh] = embedder.embed([chunks[i].indexed_text() for i in fresh])
    kept = [(i, row) for i, row in enumerate(reuse) if row is not None]
    if kept and old_dir is not None:
        old = np.load(old_dir / EMBEDDINGS)
        vectors[[i for i, _ in kept]] = old[[row for _, row in kept]].astype(np.float32)
    return vectors
