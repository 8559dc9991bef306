"""`synthloom run RECIPE -n N --out DIR`: generate (or resume) a dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from .options import add_backend_arguments, add_price_arguments, at_least

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="generate a dataset from a recipe (re-run to resume)",
                       description="Generate records 0..N-1 of a recipe into --out. Re-running the same command resumes.")
    p.add_argument("recipe", type=Path)
    p.add_argument("-n", type=int, help="number of records to generate (default: one per row when a slot uses "
                                        "`sampler: each`, else 10)")
    p.add_argument("--out", type=Path, help="output directory (default runs/RECIPE_NAME)")
    add_backend_arguments(p)
    p.add_argument("--timeout", type=float, help="seconds per request (default 120)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    p.add_argument("--sequential", action="store_true", help="one record at a time, no concurrency (for debugging)")
    p.add_argument("--max-attempts", type=int, default=6, help="tries per request for transient errors (default 6)")
    p.add_argument("--max-outage", type=float, default=900.0, metavar="SECONDS",
                   help="how long to wait for a server that stopped answering before stopping the run (default 900); "
                        "requests pause meanwhile, probing it, and do not use up their --max-attempts")
    p.add_argument("--rpm", type=int, metavar="N", help="requests per minute the backend allows (default: the recipe's, or no limit)")
    p.add_argument("--tpm", type=int, metavar="N", help="prompt + completion tokens per minute the backend allows")
    p.add_argument("--no-adaptive", dest="adaptive", action="store_false", default=None,
                   help="keep --concurrency requests in flight even on 429/503 or rising latency (no AIMD)")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    p.add_argument("--corpus", type=Path, help="an ingested corpus, or documents to ingest into OUT/corpus (default: the recipe's)")
    add_price_arguments(p)
    p.add_argument("--budget", type=float, metavar="DOLLARS",
                   help="stop sending requests before this output directory's spend could pass DOLLARS; "
                        "re-run with a higher budget to carry on")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local (this process, the default) or ray: shard the records over a Ray cluster")
    p.add_argument("--ray-address", help="with --executor ray: 'auto' (the cluster on this machine), "
                                         "HOST:6379 (a cluster's head; run on one of its nodes), or none to start a local one")
    p.add_argument("--ray-workers", type=int, help="with --executor ray: shards (default: the cluster's CPUs)")
    p.add_argument("--ray-wait", type=float, help="with --executor ray: seconds to wait for a node with a CPU "
                                                  "when the cluster has none left (default 300)")
    p.add_argument("--batch", action="store_true", default=None,
                   help="send through the provider's batch API (openai, anthropic): half the price, answers within "
                        "the completion_window; a killed run picks up the batches it submitted (docs/batch.md)")
    p.add_argument("--dry-run", action="store_true", help="use the fake backend: no model, no cost")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..api import resolve_backend_spec, run
    from ..cost.prices import PriceTable
    from ..recipe import load_recipe
    from ..runner import RunOptions
    from .progress import ProgressBar, summary_line

    recipe = load_recipe(args.recipe)
    if args.seed is not None:
        recipe = recipe.model_copy(update={"seed": args.seed})
    kind = "fake" if args.dry_run else args.kind
    at_least("--rpm and --tpm", args.rpm, args.tpm)
    spec = resolve_backend_spec(recipe, kind=kind, model=args.model, base_url=args.base_url,
                                api_key_env=args.api_key_env, timeout=args.timeout, rpm=args.rpm, tpm=args.tpm,
                                adaptive=args.adaptive, batch=False if args.dry_run else args.batch)
    at_least("--concurrency and --max-attempts", args.concurrency, args.max_attempts)
    if not args.max_outage > 0:
        raise ConfigError("--max-outage must be above 0 seconds")
    options = RunOptions(concurrency=args.concurrency, sequential=args.sequential, max_attempts=args.max_attempts,
                         max_outage=args.max_outage)
    out = args.out or Path("runs") / recipe.name
    from ..card.licences import print_licence_warnings

    print_licence_warnings(recipe, spec)  # generator terms: may the outputs train other models?
    prices = PriceTable.for_run(recipe, args.price_in, args.price_out)
    common = dict(backend=spec, options=options, corpus=args.corpus, prices=prices, budget=args.budget,
                  executor=make_executor(args))
    if args.quiet:
        result = run(recipe, args.n, out, **common)
    else:
        with ProgressBar(recipe.name) as bar:
            result = run(recipe, args.n, out, on_progress=bar.update, **common)
    if result.ingest is not None:
        for warning in result.ingest.warnings():
            print(f"synthloom: warning: corpus: {warning}", file=sys.stderr)
        if result.ingest.written:
            print(f"corpus: {result.ingest.summary()}", file=sys.stderr)
    if result.recipe_changed:
        print("synthloom: the recipe changed since the last run in this directory: records rebuilt, cached responses reused",
              file=sys.stderr)
    print(summary_line(str(out), result.stats, result.kept, result.rejected))
    for line in cost_lines(result.cost or {}, result.stats):
        print(f"synthloom: {line}")
    for line in curation_lines(result.curation or {}):
        print(f"synthloom: {line}")
    for stage, g in (result.grounding or {}).items():
        if g["checked"]:
            print(f"synthloom: grounding ({stage}): {g['supported']}/{g['checked']} answers supported by their sources "
                  f"({g['supported_fraction']:.0%}); rejected: {g['rejected_lexical']} lexical, {g['rejected_judge']} by the judge")
    return 0


def make_executor(args: argparse.Namespace):
    """None (this process) or a RayExecutor from --executor/--ray-address/--ray-workers."""
    if args.executor != "ray":
        if args.ray_address or args.ray_workers or args.ray_wait is not None:
            raise ConfigError("--ray-address, --ray-workers and --ray-wait need --executor ray")
        return None
    at_least("--ray-workers", args.ray_workers)
    if args.ray_wait is not None and args.ray_wait < 0:
        raise ConfigError("--ray-wait must be 0 or more seconds")
    from ..executors import RayExecutor

    wait = {} if args.ray_wait is None else {"wait_for_cpu": args.ray_wait}
    return RayExecutor(address=args.ray_address, workers=args.ray_workers, **wait)


def cost_lines(cost: dict, stats) -> list[str]:
    """What was spent, and whether the budget stopped the run."""
    from ..cost.prices import dollars

    paid, budget = cost.get("paid") or {}, cost.get("budget")
    lines = []
    if paid.get("dollars") is not None:
        lines.append(f"cost: {dollars(cost['this_run']['dollars'] or 0)} this run, {dollars(paid['dollars'])} in all for this directory "
                     f"({paid['requests']} requests, {paid['prompt_tokens']:,} prompt + {paid['completion_tokens']:,} completion tokens)")
    if budget and budget["reached"]:
        lines.append(f"stopped at the budget of {dollars(budget['limit'])}: {stats.total - stats.already_done - stats.processed} "
                     "records not started or unfinished; re-run with a higher --budget to finish (paid responses are reused)")
    return lines


def curation_lines(curation: dict) -> list[str]:
    """What curation dropped, and each constraint check's adherence before and after regeneration."""
    lines = []
    dropped = curation.get("dropped") or {}
    if dropped:
        lines.append("curation dropped: " + ", ".join(f"{k.removeprefix('dropped_')} {v}" for k, v in dropped.items()))
    for name, c in (curation.get("constraints") or {}).items():
        if c["records"]:
            lines.append(f"{name}: everything asked for in {c['before']['all']:.0%} of first generations, "
                         f"{c['after']['all']:.0%} after regeneration ({c['requests_per_record']:.2f} generations per record)")
    return lines
