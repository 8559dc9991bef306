"""`synthloom search CORPUS QUERY`: what retrieval stages would see for a query."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import missing_extra
from .options import at_least

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search an ingested corpus (to check what a recipe will retrieve)")
    p.add_argument("corpus", type=Path, help="a directory written by `synthloom ingest`")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="results to show (default 5)")
    p.add_argument("--mode", choices=("hybrid", "bm25", "dense"), default="hybrid")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    at_least("-k", args.k)
    try:
        from ..corpus.store import load_index
    except ImportError as exc:
        raise missing_extra("corpus", exc) from None

    index = load_index(args.corpus)
    for rank, hit in enumerate(index.search(args.query, args.k, args.mode), 1):
        where = " > ".join(p for p in (hit.chunk.title, hit.chunk.section) if p)
        print(f"{rank}. {hit.chunk.id}  score={hit.score:.4f} (bm25 #{hit.bm25_rank or '-'}, dense #{hit.dense_rank or '-'})  {where}")
        text = " ".join(hit.chunk.text.split())
        print(f"   {text[:240]}{'...' if len(text) > 240 else ''}")
    return 0
