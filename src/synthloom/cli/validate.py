"""`synthloom validate RECIPE`: check a recipe without sending anything; optionally show prompts."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..pipeline import build_pipeline
from ..recipe import FieldProblem, load_recipe, problem_to_error
from ..registry import default_registry

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a recipe (and show sample prompts) without calling a model")
    p.add_argument("recipe", type=Path)
    p.add_argument("--show", type=int, default=0, metavar="K", help="print the first stage's prompt for the first K records")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    registry = default_registry()
    pipeline = build_pipeline(recipe, registry)
    if recipe.backend.kind not in registry.backends:
        known = ", ".join(sorted(registry.backends))
        problem = FieldProblem(("backend", "kind"), f"unknown backend {recipe.backend.kind!r} (known: {known})")
        raise problem_to_error(problem, recipe)
    lists = ", ".join(f"{name} ({len(e.items)})" for name, e in pipeline.entities.items()) or "none"
    stages = " → ".join(f"{s.name} [{', '.join(s.outputs)}]" for s in pipeline.stages)
    print(f"ok: {args.recipe}: recipe {recipe.name!r}")
    print(f"  entity lists: {lists}")
    print(f"  slots: {', '.join(pipeline.samplers) or 'none'}")
    print(f"  stages: {stages}")
    print(f"  backend: {recipe.backend.kind}" + (f" ({recipe.backend.model})" if recipe.backend.model else ""))
    for index in range(args.show):
        record = pipeline.new_record(index)
        request = pipeline.stages[0].render(record)
        print(f"\n--- record {record.id} slots={record.slots}")
        for message in request.messages:
            print(f"[{message['role']}] {message['content']}")
    return 0
