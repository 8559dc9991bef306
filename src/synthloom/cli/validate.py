"""`synthloom validate RECIPE`: check a recipe without sending anything; optionally show prompts."""

from __future__ import annotations

import argparse
import inspect
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, missing_extra

__all__ = ["add_parser", "handle"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a recipe (and show sample prompts) without calling a model")
    p.add_argument("recipe", type=Path)
    p.add_argument("--show", type=int, default=0, metavar="K", help="print the first stage's prompt for the first K records")
    p.add_argument("--corpus", type=Path, help="an ingested corpus, or documents (default: the recipe's)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..pipeline import build_pipeline
    from ..recipe import load_recipe
    from ..registry import default_registry

    recipe = load_recipe(args.recipe)
    registry = default_registry()
    if recipe.corpus is None and args.corpus is None:
        return report(args, recipe, registry, build_pipeline(recipe, registry))
    try:
        from ..corpus.resolve import open_corpus  # numpy and friends only when a recipe has a corpus
    except ImportError as exc:
        raise missing_extra("corpus", exc) from None
    with tempfile.TemporaryDirectory(prefix="synthloom-validate-") as tmp:
        corpus, _ = open_corpus(recipe, Path(tmp), args.corpus)  # documents are ingested into a scratch dir
        pipeline = build_pipeline(recipe, registry, corpus=corpus)
        return report(args, recipe, registry, pipeline)


def check_backend_options(recipe, registry) -> None:
    """Each backend's `options:` against its model, as `run` checks them (nothing is started).
    Other settings the command line may still supply (a model name, a URL) are left to `run`."""
    from ..prepare.backends import make_backend  # the backends' modules only when a command needs them

    specs = [(recipe.backend, ("backend",)), *((spec, ("backends", name)) for name, spec in recipe.backends.items())]
    for spec, loc in specs:
        try:
            make_backend(spec, registry, recipe, loc)
        except ConfigError:
            continue


def report(args: argparse.Namespace, recipe, registry, pipeline) -> int:
    from ..backends.base import Request
    from ..recipe import FieldProblem, problem_to_error

    if recipe.backend.kind not in registry.backends:
        known = ", ".join(sorted(registry.backends))
        problem = FieldProblem(("backend", "kind"), f"unknown backend {recipe.backend.kind!r} (known: {known})")
        raise problem_to_error(problem, recipe)
    check_backend_options(recipe, registry)
    from ..card.licences import print_licence_warnings

    print_licence_warnings(recipe)  # generator terms: may the outputs train other models?
    lists = ", ".join(f"{name} ({len(e.items)})" for name, e in pipeline.entities.items()) or "none"
    steps = list(zip(pipeline.stages, pipeline.sections))
    stages = " → ".join(step_text(s) for s, (section, _) in steps if section == "stages")
    curation = [step_text(s) for s, (section, _) in steps if section == "curate"]
    curation += [f"{s.name} (over all kept records)" for s in pipeline.dataset_steps]
    print(f"ok: {args.recipe}: recipe {recipe.name!r}")
    print(f"  entity lists: {lists}")
    print(f"  slots: {', '.join(pipeline.samplers) or 'none'}")
    print(f"  stages: {stages}")
    if curation:
        print(f"  curation steps: {' → '.join(curation)}")
    print(f"  backend: {recipe.backend.kind}" + (f" ({recipe.backend.model})" if recipe.backend.model else ""))
    if pipeline.corpus is not None:
        print(f"  corpus: {len(pipeline.corpus)} chunks")
    shown = args.show if pipeline.rows is None else min(args.show, pipeline.rows.records)  # `each` stops at the last row
    for index in range(shown):
        record = pipeline.new_record(index)
        print(f"\n--- record {record.id} slots={record.slots}")
        request = render_first(pipeline, recipe, record)
        if not isinstance(request, Request):  # a stage without an LLM call (retrieve)
            print(f"[{pipeline.stages[0].name}] {request}")
            continue
        for message in request.messages:
            print(f"[{message['role']}] {message['content']}")
    return 0


def step_text(step: Any) -> str:
    """A stage or curation step as `name [the fields it adds]`."""
    return f"{step.name} [{', '.join(step.outputs)}]" if step.outputs else step.name


def render_first(pipeline, recipe, record) -> Any:
    """The first stage's request for a record; a prompt that does not render is the recipe's error."""
    from jinja2 import TemplateError

    from ..recipe import FieldProblem, problem_to_error

    stage = pipeline.stages[0]
    try:
        request = stage.render(record)
    except (TemplateError, ValueError) as exc:
        where = pipeline.sections[0] if pipeline.sections else ("stages", 0)
        raise problem_to_error(FieldProblem(where, f"record {record.id} does not render: {exc}"), recipe) from None
    if inspect.isawaitable(request):  # a check that runs something: nothing to show before generation
        getattr(request, "close", lambda: None)()
        return "(a check, run on the generated text)"
    return request
