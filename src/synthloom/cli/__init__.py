"""The `synthloom` command: one module per subcommand."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import SynthloomError
from . import dedup as dedup_command
from . import estimate as estimate_command
from . import evaluate as evaluate_command
from . import export as export_command
from . import ingest as ingest_command
from . import report as report_command
from . import run as run_command
from . import search as search_command
from . import train as train_command
from . import validate as validate_command

__all__ = ["main", "build_parser"]

COMMANDS = (run_command, estimate_command, validate_command, export_command, ingest_command, search_command, dedup_command, report_command,
            train_command, evaluate_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthloom", description="Generate diverse, verified synthetic datasets with LLMs.")
    parser.add_argument("--version", action="version", version=f"synthloom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors are one line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SynthloomError as exc:
        print(f"synthloom: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("synthloom: interrupted; everything finished so far is saved, re-run the same command to resume", file=sys.stderr)
        return 130
