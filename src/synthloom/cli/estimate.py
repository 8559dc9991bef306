"""`synthloom estimate RECIPE -n N`: tokens and dollars before a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .options import add_backend_arguments, add_price_arguments

if TYPE_CHECKING:
    from ..estimate import Estimate

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="tokens and dollars a run will cost, before paying for it",
                       description="Count the prompt tokens of a run from its rendered prompts (with the backend's "
                                   "tokenizer) and bound its output by max_tokens, or measure it with --pilot.")
    p.add_argument("recipe", type=Path)
    p.add_argument("-n", type=int, default=10, help="records the run would make (default 10)")
    add_backend_arguments(p, base_url="OpenAI-compatible server whose tokenizer counts the prompts")
    add_price_arguments(p)
    p.add_argument("--sample", type=int, default=1000, help="records whose prompts are rendered and counted (default 1000)")
    p.add_argument("--pilot", type=int, default=0, metavar="K",
                   help="first generate K records for real and use their output lengths and calls per record")
    p.add_argument("--out", type=Path, help="where the pilot's records go (the later `run --out` reuses them; default: a temp dir)")
    p.add_argument("--corpus", type=Path, help="an ingested corpus, or documents (default: the recipe's)")
    p.add_argument("--batch", action="store_true", help="show the price through the provider's batch API beside the online one")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..api import resolve_backend_spec
    from ..cost.prices import PriceTable
    from ..estimate import estimate
    from ..recipe import load_recipe

    recipe = load_recipe(args.recipe)
    spec = resolve_backend_spec(recipe, kind=args.kind, model=args.model, base_url=args.base_url, api_key_env=args.api_key_env)
    prices = PriceTable.for_run(recipe, args.price_in, args.price_out)
    result = estimate(recipe, args.n, backend=spec, prices=prices, sample=args.sample, pilot=args.pilot,
                      pilot_out=args.out, corpus=args.corpus)
    print(json.dumps(result.to_dict(), indent=2) if args.json else render(result, batch=args.batch))
    return 0


def render(e: Estimate, batch: bool = False) -> str:
    """A table per stage and the totals, saying how each figure was made."""
    from ..cost.prices import dollars

    lines = [f"estimate for {e.n:,} records of {e.recipe} (prompts of {e.sampled:,} records rendered; "
             f"prompt tokens: {e.counting})"]
    if e.pilot:
        p = e.pilot
        spent = f", {dollars(p['dollars'])}" if p.get("dollars") is not None else ""
        lines.append(f"pilot: {p['records']} records generated into {p['out']} ({p['kept']} kept{spent})")
    lines.append(f"{'stage':<18}{'calls/rec':>10}{'prompt/call':>13}{'output/call':>13}  {'output from':<12}"
                 f"{'prompt tok':>14}{'output tok':>14}{'cost':>12}" + (f"{'batch cost':>12}" if batch else ""))
    for name, s in e.stages.items():
        cost = dollars(s.cost) if s.cost is not None else "-"
        batch_cost = (dollars(s.batch_cost) if s.batch_cost is not None else "-") if batch else ""
        lines.append(f"{name:<18}{s.calls_per_record:>10.2f}{s.prompt_tokens_per_call:>13,.0f}{s.completion_tokens_per_call:>13,.0f}"
                     f"  {s.completion_source:<12}{s.prompt_tokens:>14,.0f}{s.completion_tokens:>14,.0f}{cost:>12}"
                     + (f"{batch_cost:>12}" if batch else ""))
    if e.setup:
        lines.append(f"{'topic trees':<18}{'':>10}{'':>13}{'':>13}  {'':<12}{e.setup['prompt_tokens']:>14,.0f}"
                     f"{e.setup['completion_tokens']:>14,.0f}")
    total = dollars(e.cost) if e.cost is not None else "- (give --price-in/--price-out or prices: in the recipe)"
    lines.append(f"total: {e.prompt_tokens:,.0f} prompt + {e.completion_tokens:,.0f} output tokens = {total}")
    if batch and e.batch_cost is not None:
        lines.append(f"through the batch API (--batch): {dollars(e.batch_cost)} (answers within the completion_window)")
    if e.caching_saves:
        lines.append(f"prompt caching could save up to {dollars(e.caching_saves)} (the shared prefix of every prompt "
                     "read from the cache at the cached_input price)")
    if any(s.completion_source == "max_tokens" for s in e.stages.values()):
        lines.append("output tokens at max_tokens are an upper bound; --pilot K measures them")
    if any(s.completion_source == "unknown" for s in e.stages.values()):
        lines.append("a stage has no max_tokens: its output is a guess; set max_tokens or use --pilot K")
    return "\n".join(lines)
