"""A run prepared up to its store: the one place where a recipe becomes something that can run.

`prepare_run` does, in this order and before any request: load and check the recipe, open or
ingest its corpus, read the entity lists and check the pipeline, make the backends (not
started) with their limits, and check prices and budget. `run`, `estimate` and each Ray worker
all start from the RunPlan it returns; the plan is picklable, so a worker receives it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backends.base import Backend, BackendBase
from ..cost.budget import Budget
from ..cost.prices import PriceTable
from ..errors import ConfigError, missing_extra
from ..pipeline import Pipeline, build_pipeline
from ..recipe.load import load_recipe
from ..recipe.model import BackendSpec, Recipe
from ..registry import Registry, default_registry
from ..runner import DEFAULT, RunOptions
from ..runner.limits import LimitSettings
from ..sampling import EntityList
from ..sampling.tables import TableCache
from ..stages.base import StageContext
from .backends import fit_in_flight, limit_settings, make_backend
from .directory import RunDirectory

__all__ = ["RunPlan", "prepare_run", "load_run_recipe"]


@dataclass
class RunPlan:
    """Everything a run needs before its store is open; `generated` is filled once topic trees grew."""

    recipe: Recipe
    registry: Registry
    out: Path
    options: RunOptions
    spec: BackendSpec  # the default backend, as run.json describes it
    backends: dict[str, BackendBase]  # DEFAULT, then the recipe's named ones; not started
    limits: dict[str, LimitSettings]
    prices: PriceTable
    budget: float | None
    entities: dict[str, EntityList]  # read once, when the recipe was checked
    corpus: Any = None  # the CorpusIndex, when the recipe has a corpus
    ingested: Any = None  # the IngestReport, when this run ingested the corpus's documents
    generated: dict[str, list[str]] = field(default_factory=dict)  # topic trees' items

    @property
    def model(self) -> str:
        return self.backends[DEFAULT].model_id

    @property
    def models(self) -> dict[str, str]:
        """Named backends → their model ids."""
        return {name: b.model_id for name, b in self.backends.items() if name != DEFAULT}

    def context(self) -> StageContext:
        return StageContext(seed=self.recipe.seed, model=self.model, models=self.models, corpus=self.corpus)

    def pipeline(self) -> Pipeline:
        """The complete pipeline (trees grown): built by the driver and by every worker alike."""
        return build_pipeline(self.recipe, self.registry, model=self.model, generated=self.generated,
                              models=self.models, loaded=self.entities, corpus=self.corpus)

    def with_backends(self, backends: dict[str, BackendBase]) -> RunPlan:
        return replace(self, backends=backends)


def load_run_recipe(recipe: Recipe | str | Path) -> Recipe:
    return recipe if isinstance(recipe, Recipe) else load_recipe(recipe)


def prepare_run(recipe: Recipe | str | Path, directory: RunDirectory, *, backend: BackendSpec | Backend | None = None,
                options: RunOptions | None = None, registry: Registry | None = None, corpus: str | Path | None = None,
                prices: PriceTable | None = None, budget: float | None = None,
                data: dict[str, Any] | None = None) -> RunPlan:
    """Check everything that can be checked without a request; raises RecipeError or ConfigError.

    Data files (and `data`, in-memory data by entity name) are converted into OUT/data, under the
    run's lock, once every check passed (sampling/tables)."""
    recipe = load_run_recipe(recipe)
    registry = registry or default_registry()
    options = options or RunOptions()
    prices = prices if prices is not None else PriceTable.for_run(recipe)
    Budget(prices, budget)  # a budget without prices is a setting error, found before any work
    index, ingested = open_run_corpus(recipe, directory, corpus)
    tables = TableCache(keep=directory.path / "data", claim=directory.claim)
    checked = build_pipeline(recipe, registry, corpus=index, tables=tables, data=data)  # recipe errors first
    default, spec = make_backend(backend or recipe.backend, registry, recipe)
    backends = {DEFAULT: default}
    backends |= {name: make_backend(other, registry, recipe, ("backends", name))[0] for name, other in recipe.backends.items()}
    fit_in_flight(backends.values(), options)
    limits = {DEFAULT: limit_settings(spec), **{name: limit_settings(other) for name, other in recipe.backends.items()}}
    tables.commit()  # data files converted for this run go into OUT/data now that every check passed
    return RunPlan(recipe, registry, directory.path, options, spec, backends, limits, prices, budget, checked.entities,
                   index, ingested)


def open_run_corpus(recipe: Recipe, directory: RunDirectory, override: str | Path | None) -> tuple[Any, Any]:
    """The run's corpus (documents are ingested into OUT/corpus, under the run's lock), or (None, None)."""
    if recipe.corpus is None and override is None:
        return None, None
    try:
        from ..corpus.resolve import open_corpus
    except ImportError as exc:
        raise missing_extra("corpus", exc) from None
    return open_corpus(recipe, directory.claim(), override)


def check_n(n: int) -> None:
    if n < 0:
        raise ConfigError(f"-n must be 0 or more, got {n}")
