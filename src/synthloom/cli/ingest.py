"""`synthloom ingest DOCS... --out DIR`: read, chunk, embed and index documents for grounding."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, missing_extra

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="turn documents (.txt .md .html .pdf) into a searchable corpus",
                       description="Read documents (directories recursively), split them into chunks by headings and "
                                   "paragraphs, and build a BM25 + embedding index in --out. Unchanged files are not "
                                   "read again; a re-run on unchanged files does nothing.")
    p.add_argument("sources", type=Path, nargs="+", metavar="DOCS", help="files or directories")
    p.add_argument("--out", type=Path, required=True, help="the corpus directory to write")
    p.add_argument("--chunk-tokens", type=int, default=256, help="token budget of a chunk (default 256)")
    p.add_argument("--overlap", type=int, default=32, help="tokens shared by neighbouring chunks (default 32)")
    p.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        from ..corpus.chunking import ChunkSettings
        from ..corpus.ingestion import ingest
    except ImportError as exc:
        raise missing_extra("corpus", exc) from None

    try:
        settings = ChunkSettings(args.chunk_tokens, args.overlap, min(48, args.chunk_tokens // 4))
    except ValueError as exc:
        raise ConfigError(f"--chunk-tokens/--overlap: {exc}") from None
    on_file = None if args.quiet else (lambda name: print(f"  reading {name}", file=sys.stderr))
    report = ingest(args.sources, args.out, settings, on_file=on_file)
    for warning in report.warnings():
        print(f"synthloom: warning: {warning}", file=sys.stderr)
    print(report.summary())
    return 0
