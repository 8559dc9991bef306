"""`synthloom review RUN_DIR`: look through a run's records in the browser and decide on them."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .options import add_run_dir

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review a run's records in the browser: accept, reject, relabel, edit, trace origins",
                       description="Serve a local, private web app on the run store (127.0.0.1, a random token in the "
                                   "URL): kept and rejected records with their lineage, filters and search, decisions "
                                   "(kept in the store; export, report and train apply them), nearest neighbours, "
                                   "over-represented slot values, clusters, and judge-human agreement.")
    add_run_dir(p, note=" (it may still be running)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else lets other machines reach the app, "
                        "token still required)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--reviewer", metavar="NAME", help="name stored with each decision (the page can change it)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..review.serve import serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: not a port (0-65535; 0 picks a free one)")
    serve(args.run_dir, host=args.host, port=args.port, open_browser=not args.no_browser, reviewer=args.reviewer)
    return 0
