"""Batch mode (`--batch`): requests sent through a provider's batch API, exactly once across kills."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ConfigError
from ..runner import DEFAULT
from .dispatcher import BatchBackend
from .progress import BatchProgress

__all__ = ["BatchBackend", "BatchProgress", "batch_mode"]


def batch_mode(plan: Any, store: Any, budget: Any) -> Any:
    """The plan with its default backend answering from provider batches, enough records in flight
    to fill them (each record waits for its answer, so a batch holds as many as are in flight), and
    no AIMD gate (a batch line's wait says nothing about overload)."""
    backend, spec = plan.backends[DEFAULT], plan.spec
    api = backend.batch_api(spec)
    if api is None:
        raise ConfigError(f"--batch needs a backend with a batch API (openai, anthropic), not {backend.name!r}")
    settings = spec.batch_settings
    on_unclaimed = (lambda response: budget.add(response, backend.model_id)) if budget is not None else None
    wrapped = BatchBackend(backend, api, store, settings, on_unclaimed, spec.completion_window)
    options = plan.options
    in_flight = 1 if options.sequential else max(options.concurrency, settings.in_flight)
    limits = {**plan.limits, DEFAULT: replace(plan.limits[DEFAULT], adaptive=False)}
    return replace(plan, backends={**plan.backends, DEFAULT: wrapped}, options=replace(options, concurrency=in_flight),
                   limits=limits)
