"""`synthloom report RUN_DIR`: write report.html and metrics.json, print the headline metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError, missing_extra
from .options import add_run_dir

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="diversity, coverage, drops and cost of a run, as report.html and metrics.json",
                       description="Read a run directory written by `synthloom run`; write RUN_DIR/report.html (one "
                                   "self-contained page with plots) and RUN_DIR/metrics.json; print the headline metrics.")
    add_run_dir(p)
    p.add_argument("--field", metavar="F", help="the text field to measure diversity on (default: the first text output)")
    p.add_argument("--price-in", type=float, metavar="X", help="$ per 1M prompt tokens (with --price-out: show cost)")
    p.add_argument("--price-out", type=float, metavar="Y", help="$ per 1M completion tokens")
    p.add_argument("--sample", type=int, default=200, metavar="N",
                   help="texts sampled for self-BLEU, embedding similarity and clusters (default 200)")
    p.add_argument("--show", type=int, default=100, metavar="N", help="kept and rejected records to browse in the page (default 100)")
    p.add_argument("--out", type=Path, metavar="FILE", help="where to write the page (default RUN_DIR/report.html; "
                                                            "metrics go next to it as FILE with a .json suffix)")
    p.set_defaults(handler=handle)


def check_extra() -> None:
    """Fail with the one-line install hint before any work, not with an ImportError halfway."""
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
        import sacrebleu  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise missing_extra("curate", exc) from None


def handle(args: argparse.Namespace) -> int:
    check_extra()
    from ..files import describe_os_error
    from ..report import ReportOptions, headline_lines, write_report

    if (args.price_in is None) != (args.price_out is None):
        raise ConfigError("--price-in and --price-out go together (both in $ per 1M tokens)")
    if any(price is not None and price < 0 for price in (args.price_in, args.price_out)):
        raise ConfigError("--price-in and --price-out must not be negative")
    if args.sample < 2:
        raise ConfigError(f"--sample {args.sample}: must be at least 2 (self-BLEU compares texts with each other)")
    if args.show < 0:
        raise ConfigError(f"--show {args.show}: must not be negative")
    options = ReportOptions(field=args.field, price_in=args.price_in, price_out=args.price_out, sample=args.sample,
                            show=args.show)
    try:
        files = write_report(args.run_dir, options, out=args.out)
    except OSError as exc:  # a file of the run that cannot be read (permissions, I/O error)
        raise ConfigError(f"{exc.filename or args.run_dir}: {describe_os_error(exc)}") from None
    for line in headline_lines(files.metrics):
        print(line)
    print(f"wrote {files.html} and {files.metrics_json}")
    if args.out is None and (args.run_dir / "run.json").is_file():  # the dataset card picks up the report's figures
        from ..card.write import write_run_card

        print(f"wrote {write_run_card(args.run_dir)}")
    return 0
