"""A run's backends: made from their specs through the registry, sized, started and closed."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from ..backends.base import Backend, BackendBase, as_backend
from ..backends.options import OptionError
from ..errors import ConfigError
from ..recipe.load import FieldProblem, problem_to_error
from ..recipe.model import BackendSpec, Recipe
from ..registry import Registry
from ..runner import RunOptions
from ..runner.limits import LimitSettings

__all__ = ["resolve_backend_spec", "make_backend", "fit_in_flight", "start_all", "close_all", "limit_settings"]


def resolve_backend_spec(recipe: Recipe, **overrides: Any) -> BackendSpec:
    """The recipe's backend with command-line overrides (None means keep the recipe's)."""
    data = recipe.backend.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("kind") and overrides["kind"] != recipe.backend.kind:
        data["options"] = {}  # neither a model name nor options for one backend mean anything to another
        if overrides.get("model") is None:
            data["model"] = None
    try:
        return BackendSpec(**data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ConfigError(f"--{str(problem['loc'][0]).replace('_', '-')}: {problem['msg']}") from None


def make_backend(backend: BackendSpec | Backend, registry: Registry, recipe: Recipe,
                 loc: tuple[str, ...] = ("backend",)) -> tuple[BackendBase, BackendSpec]:
    """A backend object (not started yet) and the spec that describes it (for run.json)."""
    if not isinstance(backend, BackendSpec):
        return as_backend(backend), BackendSpec(kind=backend.name, model=backend.model_id)
    try:
        return as_backend(registry.make_backend(backend)), backend
    except KeyError as exc:
        raise problem_to_error(FieldProblem((*loc, "kind"), exc.args[0]), recipe) from None
    except OptionError as exc:
        raise problem_to_error(FieldProblem((*loc, "options", *exc.option), exc.detail), recipe) from None
    except ConfigError as exc:
        if loc == ("backend",):
            raise
        raise ConfigError(f"backends.{loc[-1]}: {exc}") from None


def fit_in_flight(backends: Any, options: RunOptions) -> None:
    """Tell each backend how many requests this run can have in flight: no more than
    --concurrency, 1 if --sequential (the embedded backend sizes its batch slots by it)."""
    in_flight = 1 if options.sequential else options.concurrency
    for backend in backends:
        backend.fit_in_flight(in_flight)


async def start_all(backends: dict[str, BackendBase]) -> None:
    """Start every backend; if one cannot start, close the ones that did."""
    started: list[BackendBase] = []
    try:
        for backend in backends.values():
            await backend.start()
            started.append(backend)
    except BaseException:
        await close_all(started)
        raise


async def close_all(backends: Any) -> None:
    await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)


def limit_settings(spec: BackendSpec) -> LimitSettings:
    """A backend's rate limits and AIMD settings, from its spec."""
    return LimitSettings(spec.rpm, spec.tpm, spec.adaptive, spec.latency_tolerance)
