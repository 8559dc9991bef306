"""`synthloom push RUN_DIR --repo ORG/NAME [--private]`: publish a run's dataset to the Hugging Face Hub."""

from __future__ import annotations

import argparse

from .options import add_run_dir

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="upload a run's dataset (Parquet) with its card to the Hugging Face Hub",
                       description="Create the dataset repo ORG/NAME if it does not exist and commit README.md (the "
                                   "dataset card), data/train-00000-of-00001.parquet and recipe.yaml. The token comes "
                                   "from HF_TOKEN or `hf auth login`; HF_ENDPOINT picks another Hub. Needs the `hub` extra.")
    add_run_dir(p, dest="run")
    p.add_argument("--repo", required=True, metavar="ORG/NAME", help="the dataset repository on the Hub")
    p.add_argument("--private", action="store_true", help="create the repository private (an existing one keeps its visibility)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..card.push import push_run

    result = push_run(args.run, args.repo, args.private)
    print(f"synthloom: pushed {result.records:,} records with their dataset card to {result.url}"
          + (f" (commit {result.commit[:12]})" if result.commit else "") + (" · private" if result.private else ""))
    return 0
