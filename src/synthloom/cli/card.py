"""`synthloom card RUN_DIR`: (re)write the run's dataset card, RUN_DIR/README.md."""

from __future__ import annotations

import argparse

from .options import add_run_dir

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="write a run's dataset card (README.md in the Hugging Face format)",
                       description="Write RUN_DIR/README.md from the run's files: generating models and their licence "
                                   "terms, recipe, entity lists and coverage, curation, diversity, cost, how to load it, "
                                   "known limits. `synthloom run` writes it too; this rewrites it (e.g. after `report`).")
    add_run_dir(p, dest="run")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..card.write import write_run_card

    path = write_run_card(args.run)
    print(f"synthloom: {path}: dataset card written")
    return 0
