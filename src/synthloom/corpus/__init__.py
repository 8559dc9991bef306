"""Grounding corpora: read documents, chunk them, index them (BM25 + embeddings), search."""

from .chunking import Chunk, ChunkSettings, chunk_document
from .index import CorpusIndex, Hit
from .ingest import IngestReport, ingest
from .readers import Document, Unreadable, read_document

__all__ = [
    "Chunk",
    "ChunkSettings",
    "chunk_document",
    "CorpusIndex",
    "Hit",
    "IngestReport",
    "ingest",
    "Document",
    "Unreadable",
    "read_document",
]
