"""The `synthloom` command: one module per subcommand.

Building the parser imports only the command modules, which import their machinery (the run,
pyarrow, numpy, backends) inside `handle`: `--help` and `--version` answer at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from ..errors import StageFailed, SynthloomError
from . import card as card_command
from . import dedup as dedup_command
from . import estimate as estimate_command
from . import evaluate as evaluate_command
from . import export as export_command
from . import ingest as ingest_command
from . import push as push_command
from . import report as report_command
from . import review as review_command
from . import run as run_command
from . import search as search_command
from . import train as train_command
from . import validate as validate_command

__all__ = ["main", "build_parser"]

COMMANDS = (run_command, estimate_command, validate_command, export_command, ingest_command, search_command, dedup_command, report_command,
            review_command, train_command, evaluate_command, card_command, push_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthloom", description="Generate diverse, verified synthetic datasets with LLMs.")
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():  # `synthloom run ... --debug` as well as `synthloom --debug run ...`
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show the traceback of an internal error")
    return parser


class VersionAction(argparse.Action):
    """`--version`: reads the installed version only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: object, values: object, option_string: str | None = None) -> None:
        from ..version import package_version

        print(f"synthloom {package_version()}")
        parser.exit()


LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(message: str) -> str:
    """The message with every character Python splits lines at escaped (a key named "a\\fb")."""
    return message.translate(LINE_BREAKS)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors are one line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SynthloomError as exc:
        print(f"synthloom: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except StageFailed as exc:  # a bug in a stage: say where, and how to see the traceback
        if args.debug:
            traceback.print_exception(exc.error)
        print(f"synthloom: internal error: {one_line(str(exc))}; everything finished so far is saved"
              f"{'' if args.debug else ' (run with --debug for the traceback)'}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `synthloom validate R --show 100 | head`: the reader left, which is not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not raise again
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("synthloom: interrupted; everything finished so far is saved, re-run the same command to resume", file=sys.stderr)
        return 130
