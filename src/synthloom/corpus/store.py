"""A corpus directory: chunks.jsonl, embeddings.npy, bm25/ and manifest.json.

The manifest is written last and records the hash of chunks.jsonl, so a directory whose
ingest was interrupted is recognised (and re-ingested) rather than searched half-built.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import ConfigError
from ..files import move_into_place, write_text_atomic
from .chunking import Chunk
from .embed import Embedder, load_embedder
from .index import CorpusIndex, bm25_tokenizer, build_bm25

__all__ = ["MANIFEST", "read_manifest", "read_chunks", "write_corpus", "load_index", "is_corpus", "FORMAT"]

FORMAT = 1
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
EMBEDDINGS = "embeddings.npy"
BM25 = "bm25"


def is_corpus(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest if the directory holds a complete corpus of this format, else None."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        digest = file_sha256(directory / CHUNKS)
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or manifest.get("chunks_sha256") != digest:
        return None
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_chunks(directory: Path) -> list[Chunk]:
    with (directory / CHUNKS).open("rb") as f:
        return [Chunk(**orjson.loads(line)) for line in f if line.strip()]


def write_corpus(directory: Path, chunks: list[Chunk], embeddings: np.ndarray, manifest: dict[str, Any]) -> dict[str, Any]:
    """Build the BM25 index and write everything; the manifest goes last."""
    tmp = directory / ".ingest-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with (tmp / CHUNKS).open("wb") as f:
        for chunk in chunks:
            f.write(orjson.dumps(chunk.__dict__) + b"\n")
    np.save(tmp / EMBEDDINGS, embeddings.astype(np.float16))
    retriever, tokenizer = build_bm25([c.indexed_text() for c in chunks])
    retriever.save(str(tmp / BM25))
    tokenizer.save_vocab(str(tmp / BM25))
    tokenizer.save_stopwords(str(tmp / BM25))
    manifest = {**manifest, "format": FORMAT, "chunks": len(chunks), "chunks_sha256": file_sha256(tmp / CHUNKS)}
    (directory / MANIFEST).unlink(missing_ok=True)  # from here until the end the directory is incomplete
    for name in (CHUNKS, EMBEDDINGS, BM25):
        move_into_place(tmp / name, directory / name)
    tmp.rmdir()
    write_text_atomic(directory / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_index(directory: Path, embedder: Embedder | None = None) -> CorpusIndex:
    """A searchable corpus; ConfigError if the directory is not a complete one."""
    import bm25s

    if not directory.is_dir():
        raise ConfigError(f"corpus {directory}: no such directory")
    manifest = read_manifest(directory)
    if manifest is None:
        why = "its ingest did not finish" if (directory / MANIFEST).exists() or (directory / CHUNKS).exists() \
            else "no manifest.json"
        raise ConfigError(f"corpus {directory} is not an ingested corpus ({why}): run `synthloom ingest DOCS --out {directory}`")
    chunks = read_chunks(directory)
    embeddings = np.load(directory / EMBEDDINGS).astype(np.float32)
    if embeddings.shape[0] != len(chunks):
        raise ConfigError(f"corpus {directory}: {EMBEDDINGS} has {embeddings.shape[0]} rows for {len(chunks)} chunks; re-run ingest")
    retriever = bm25s.BM25.load(str(directory / BM25))
    tokenizer = bm25_tokenizer()
    tokenizer.load_vocab(str(directory / BM25))
    tokenizer.load_stopwords(str(directory / BM25))
    return CorpusIndex(chunks, embeddings, retriever, tokenizer, embedder or load_embedder(),
                       fingerprint=manifest["chunks_sha256"][:16])
