"""The one registration seam for backends and stages, built-ins included.

Plugins are packages exposing an entry point in the `synthloom.plugins` group: a callable
`register(registry)` that adds stages and backends, exactly as the built-ins do below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from .backends.base import Backend
from .recipe.model import BackendSpec
from .stages.base import with_stage_base

__all__ = ["Registry", "default_registry", "BackendFactory"]

BackendFactory = Callable[[BackendSpec], Backend]


class Registry:
    """Names → stage classes and backend factories. Make one with `default_registry()`."""

    def __init__(self) -> None:
        self.stages: dict[str, type[Any]] = {}
        self.backends: dict[str, BackendFactory] = {}

    def add_stage(self, kind: str, stage_class: type[Any]) -> None:
        """Register a stage class (it has a pydantic `Config` and `__init__(config, context)`);
        the hooks of StageBase it does not define get their defaults."""
        self.stages[kind] = with_stage_base(stage_class)

    def add_backend(self, kind: str, factory: BackendFactory) -> None:
        """Register a backend factory: `factory(spec: BackendSpec) -> Backend`."""
        self.backends[kind] = factory

    def stage_class(self, kind: str) -> type[Any]:
        try:
            return self.stages[kind]
        except KeyError:
            raise KeyError(f"unknown stage kind {kind!r} (known: {', '.join(sorted(self.stages))})") from None

    def make_backend(self, spec: BackendSpec) -> Backend:
        try:
            factory = self.backends[spec.kind]
        except KeyError:
            raise KeyError(f"unknown backend {spec.kind!r} (known: {', '.join(sorted(self.backends))})") from None
        return factory(spec)


class LazyBackend:
    """A factory that imports its backend on first use (aiohttp, llama_cpp are slow to import);
    a plain object, so a registry pickles (a Ray worker receives the run's)."""

    def __init__(self, module: str, class_name: str):
        self.module, self.class_name = module, class_name

    def __call__(self, spec: BackendSpec) -> Backend:
        backend_class = getattr(importlib.import_module(self.module, __package__), self.class_name)
        backend: Backend = backend_class.from_spec(spec)
        return backend


def register_builtins(registry: Registry) -> None:
    """The built-in stages and backends, registered through the same seam as plugins."""
    from .curate.dataset import DedupStep
    from .curate.filters import FILTERS
    from .curate.verify.code import CodeCheckStage
    from .curate.verify.constraints import ConstraintStage
    from .stages.constitution import ConstitutionStage
    from .stages.conversation import ConversationStage
    from .stages.evolve import EvolveStage
    from .stages.generate import GenerateStage
    from .stages.grounded import GroundedAnswerStage
    from .stages.grounding import GroundingStage
    from .stages.judge import JudgeStage
    from .stages.preference import PreferenceStage
    from .stages.retrieve import RetrieveStage

    registry.add_stage("generate", GenerateStage)
    registry.add_stage("conversation", ConversationStage)
    registry.add_stage("judge", JudgeStage)
    registry.add_stage("evol", EvolveStage)
    registry.add_stage("preference", PreferenceStage)
    registry.add_stage("retrieve", RetrieveStage)
    registry.add_stage("grounded_answer", GroundedAnswerStage)
    registry.add_stage("grounding", GroundingStage)
    registry.add_stage("constitution", ConstitutionStage)
    registry.add_stage("constraints", ConstraintStage)
    registry.add_stage("code", CodeCheckStage)
    registry.add_stage("dedup", DedupStep)
    for kind, filter_class in FILTERS.items():
        registry.add_stage(kind, filter_class)
    registry.add_backend("embedded", LazyBackend(".backends.embedded", "EmbeddedBackend"))
    registry.add_backend("openai", LazyBackend(".backends.openai", "OpenAIBackend"))
    registry.add_backend("anthropic", LazyBackend(".backends.anthropic", "AnthropicBackend"))
    registry.add_backend("fake", LazyBackend(".backends.fake", "FakeBackend"))


def default_registry(plugins: bool = True) -> Registry:
    """A fresh registry with the built-ins and, unless `plugins=False`, installed plugins."""
    registry = Registry()
    register_builtins(registry)
    if plugins:
        for entry in entry_points(group="synthloom.plugins"):
            entry.load()(registry)
    return registry
