"""Grounding corpora: read documents, chunk them, index them (BM25 + embeddings), search.

Names are imported on first use, so the stages that need only the text helpers (and a
registry built without the `corpus` extra) do not import numpy, bm25s or WordLlama.
"""

from ..lazy import lazy_attributes

__all__ = [
    "Chunk",
    "ChunkSettings",
    "chunk_document",
    "CorpusIndex",
    "load_index",
    "Hit",
    "IngestReport",
    "ingest",
    "Document",
    "Unreadable",
    "read_document",
]

_WHERE = {
    "Chunk": "chunking", "ChunkSettings": "chunking", "chunk_document": "chunking",
    "CorpusIndex": "index", "load_index": "store", "Hit": "index", "IngestReport": "ingestion", "ingest": "ingestion",
    "Document": "readers", "Unreadable": "readers", "read_document": "readers",
}

__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _WHERE.items()})
