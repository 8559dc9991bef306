"""The Python API behind `synthloom run`: recipe in, dataset directory out."""

from __future__ import annotations

import asyncio
import json
import time
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from typing import Any, Callable

from .backends.base import AuthFailed, Backend
from .backends.options import OptionError
from .cost.budget import Budget, BudgetReached
from .cost.prices import PriceTable
from .errors import ConfigError, missing_extra
from .export.run_files import export_run, grounding_summary, without_credentials
from .limits import LimitSettings
from .outage import OutageTooLong
from .pipeline import Pipeline, build_pipeline
from .recipe.load import FieldProblem, load_recipe, problem_to_error
from .recipe.model import BackendSpec, Recipe, TopicTree, TreeEntity
from .stages.base import StageContext
from .stages.topic_tree import grow_tree, load_tree, save_tree, tree_items
from .registry import Registry, default_registry
from .runner import DEFAULT, Runner, RunOptions, RunStats
from .executors.ray_executor import ShardJob
from .executors.shards import merge_shards
from .store import RunLock, Store

__all__ = ["run", "run_async", "RunResult", "export_run", "resolve_backend_spec"]


@dataclass
class RunResult:
    """What a run produced: where, how many, and the counters."""

    out: Path
    stats: RunStats
    kept: int
    rejected: int
    recipe_changed: bool = False
    ingest: Any = None  # the IngestReport when the run ingested its corpus's documents
    grounding: dict[str, dict[str, Any]] | None = None  # per grounding stage: checked, supported, fraction
    curation: dict[str, Any] | None = None  # dropped_<reason> counts, constraint adherence, dedup figures
    cost: dict[str, Any] | None = None  # dollars and tokens: this run, the directory in all, per stage

    @property
    def budget_reached(self) -> bool:
        """The run stopped before n records because the next request could pass --budget."""
        return self.stats.budget_reached

    @property
    def dataset(self) -> Path:
        return self.out / "dataset.jsonl"


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


def run(
    recipe: Recipe | str | Path,
    n: int,
    out: str | Path,
    *,
    backend: BackendSpec | Backend | None = None,
    options: RunOptions | None = None,
    registry: Registry | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    corpus: str | Path | None = None,
    prices: PriceTable | None = None,
    budget: float | None = None,
    executor: Any = None,
) -> RunResult:
    """Generate records 0..n-1 of `recipe` into `out`, resuming whatever is already there.

    `corpus` (an ingested corpus directory, or documents to ingest into OUT/corpus) overrides
    the recipe's `corpus:`. `prices` (default: the recipe's `prices:`) makes the run count
    dollars; `budget` stops it before the directory's spend could pass that many dollars
    (resumable: run again with a higher budget). `executor` (a `synthloom.executors.RayExecutor`)
    shards the records over a Ray cluster; the result is the same. Works in scripts and notebooks.
    """
    coroutine = run_async(recipe, n, out, backend=backend, options=options, registry=registry,
                          on_progress=on_progress, corpus=corpus, prices=prices, budget=budget, executor=executor)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_in_new_loop(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run_in_new_loop, coroutine).result()


def run_in_new_loop(coroutine: Any) -> Any:
    """asyncio.run on uvloop where it is installed (about 2x less loop overhead per request)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def run_async(
    recipe: Recipe | str | Path,
    n: int,
    out: str | Path,
    *,
    backend: BackendSpec | Backend | None = None,
    options: RunOptions | None = None,
    registry: Registry | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    corpus: str | Path | None = None,
    prices: PriceTable | None = None,
    budget: float | None = None,
    executor: Any = None,
) -> RunResult:
    """The async form of `run`."""
    if n < 0:
        raise ConfigError(f"-n must be 0 or more, got {n}")
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    registry = registry or default_registry()
    prices = prices if prices is not None else PriceTable.for_run(recipe)
    Budget(prices, budget)  # a budget without prices is a setting error, found before any work
    out = Path(out)
    index, ingested = open_run_corpus(recipe, out, corpus)
    checked = build_pipeline(recipe, registry, corpus=index)  # recipe errors first, before any backend setting
    llm, spec = make_backend(backend or recipe.backend, registry, recipe)
    named = {name: make_backend(other, registry, recipe, ("backends", name))[0] for name, other in recipe.backends.items()}
    backends = {DEFAULT: llm, **named}
    fit_in_flight(backends.values(), options or RunOptions())
    models = {name: b.model_id for name, b in named.items()}
    limits = {DEFAULT: limit_settings(spec), **{name: limit_settings(other) for name, other in recipe.backends.items()}}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror}") from None
    with RunLock(out):
        store = Store.open_dir(out)
        started = False
        try:
            tracker = Budget(prices, budget, spent_before=spend_so_far(store, prices, budget)) if prices else None
            runner = Runner(None, backends, store, options, on_progress, budget=tracker, limits=limits)
            trees = trees_to_grow(recipe, out)
            if trees:
                await start_all(backends)
                started = True
                runner.stats.started = time.monotonic()  # generation time excludes connecting to the servers
            context = StageContext(seed=recipe.seed, model=llm.model_id, models=models, corpus=index)
            try:
                generated = await grow_trees(recipe, trees, out, runner, context)
            except BudgetReached as exc:
                raise ConfigError(f"{exc} while growing the topic trees; what was paid for is saved: "
                                  "re-run with a higher --budget") from None
            except OutageTooLong as exc:
                raise ConfigError(f"stopped waiting while growing the topic trees: {exc}; what was generated "
                                  "is saved, re-run the same command to continue") from None
            pipeline = build_pipeline(recipe, registry, model=llm.model_id, generated=generated, models=models,
                                      loaded=checked.entities, corpus=index)
            runner.pipeline = pipeline
            merge_shards(store, out)  # what the workers of a distributed run left, before anything else
            changed = adopt_recipe(store, pipeline)
            finished = store.finished_indices(n)
            todo = [i for i in range(n) if i not in finished]
            if todo:
                try:
                    if executor is not None:
                        runner.stats.total, runner.stats.already_done = n, n - len(todo)
                        job = ShardJob(recipe, registry, backends, limits, runner.options, out.resolve(), llm.model_id, models,
                                       generated, checked.entities, index, prices if prices else None,
                                       max(0.0, budget - tracker.spent_before) if budget is not None and tracker else None)
                        try:
                            await executor.run(job, todo, runner.stats, on_progress)
                        finally:
                            merge_shards(store, out)
                    else:
                        if not started:
                            await start_all(backends)
                            started = True
                            runner.stats.started = time.monotonic()
                        await runner.run(todo, total=n)
                except AuthFailed as exc:
                    raise ConfigError(f"the server refused the API key from ${spec.api_key_env} ({exc}); "
                                      "everything generated so far is saved") from None
                except OutageTooLong as exc:
                    raise ConfigError(f"stopped waiting: {exc}; everything generated so far is saved, "
                                      "re-run the same command to continue") from None
            else:
                runner.stats.total = runner.stats.already_done = n
                runner.stats.concurrency = runner.concurrency_figures()
            endpoints = llm.endpoint_stats() if hasattr(llm, "endpoint_stats") else None
            engine = llm.engine_stats() if hasattr(llm, "engine_stats") else None
            counts = export_run(store, pipeline, out, n, spec, runner.stats, prices, endpoints=endpoints, engine=engine)
        finally:
            if started:
                await asyncio.gather(*(b.close() for b in backends.values()), return_exceptions=True)
            store.close()
    return RunResult(out, runner.stats, counts["kept"], counts["rejected"], changed, ingested, counts["grounding"],
                     counts["curation"], counts["cost"])


def spend_so_far(store: Store, prices: PriceTable, budget: float | None) -> float:
    """Dollars for every response this directory has paid for (at today's prices)."""
    usage = store.paid_usage()
    total = prices.total(usage)
    if total is None:
        unpriced = sorted(m for m, (p, c) in usage.items() if prices.price(m) is None and (p or c))
        if budget is not None:
            raise ConfigError(f"no price for model {unpriced[0]!r}, which earlier runs in this directory used: "
                              "add it to the recipe's `prices:` or give --price-in/--price-out")
        total = prices.total({m: u for m, u in usage.items() if m not in unpriced}) or 0.0
    return total


def open_run_corpus(recipe: Recipe, out: Path, override: str | Path | None) -> tuple[Any, Any]:
    """The run's corpus (documents are ingested into OUT/corpus), or (None, None) without one."""
    if recipe.corpus is None and override is None:
        return None, None
    try:
        from .corpus.resolve import open_corpus
    except ImportError as exc:
        raise missing_extra("corpus", exc) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror}") from None
    with RunLock(out):  # released before the run takes it again: flock is per open file
        return open_corpus(recipe, out, override)


def trees_to_grow(recipe: Recipe, out: Path) -> dict[str, TopicTree]:
    """Topic trees this run has to ask the LLM for (not given as a file, not saved before)."""
    return {
        name: spec.tree for name, spec in recipe.entities.items()
        if isinstance(spec, TreeEntity) and not spec.tree.file and not (out / f"{name}_tree.json").exists()
    }


async def start_all(backends: dict[str, Backend]) -> None:
    """Start every backend; if one cannot start, close the ones that did."""
    started: list[Backend] = []
    try:
        for backend in backends.values():
            await backend.start()
            started.append(backend)
    except BaseException:
        await asyncio.gather(*(b.close() for b in started), return_exceptions=True)
        raise


async def grow_trees(recipe: Recipe, trees: dict[str, TopicTree], out: Path, runner: Runner,
                     context: StageContext) -> dict[str, list[str]]:
    """Grow the missing trees, save them as OUT/NAME_tree.json, and read every saved one back."""
    generated: dict[str, list[str]] = {}
    for name, spec in recipe.entities.items():
        if not isinstance(spec, TreeEntity) or spec.tree.file:
            continue
        path = out / f"{name}_tree.json"
        if name in trees:
            tree = await grow_tree(spec.tree, context, runner.call_all)
            save_tree(tree, path)
        try:
            generated[name] = tree_items(load_tree(path), spec.tree.use)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return generated


def make_backend(backend: BackendSpec | Backend, registry: Registry, recipe: Recipe,
                 loc: tuple[str, ...] = ("backend",)) -> tuple[Backend, BackendSpec]:
    """A backend object (not started yet) and the spec that describes it (for run.json)."""
    if not isinstance(backend, BackendSpec):
        return backend, BackendSpec(kind=backend.name, model=backend.model_id)
    try:
        return registry.make_backend(backend), backend
    except KeyError as exc:
        raise problem_to_error(FieldProblem((*loc, "kind"), exc.args[0]), recipe) from None
    except OptionError as exc:
        raise problem_to_error(FieldProblem((*loc, "options", *exc.option), exc.detail), recipe) from None
    except ConfigError as exc:
        if loc == ("backend",):
            raise
        raise ConfigError(f"backends.{loc[-1]}: {exc}") from None


def fit_in_flight(backends: Any, options: RunOptions) -> None:
    """Tell backends that size themselves by the requests in flight (the embedded backend's
    `parallel` slots) how many this run can have: no more than --concurrency, 1 if --sequential."""
    in_flight = 1 if options.sequential else options.concurrency
    for backend in backends:
        fit = getattr(backend, "fit_in_flight", None)
        if fit is not None:
            fit(in_flight)


def limit_settings(spec: BackendSpec) -> LimitSettings:
    """A backend's rate limits and AIMD settings, from its spec."""
    return LimitSettings(spec.rpm, spec.tpm, spec.adaptive, spec.latency_tolerance)


def adopt_recipe(store: Store, pipeline: Pipeline) -> bool:
    """Keep the records if the recipe is unchanged; otherwise drop them but keep the cache."""
    fingerprint = pipeline.fingerprint()
    previous = store.get_meta("recipe_fingerprint")
    changed = previous is not None and previous != fingerprint
    if changed:
        store.clear_records()
    store.set_meta("recipe_fingerprint", fingerprint)
    recipe = pipeline.recipe.model_dump(mode="json", exclude={"backend"})
    for spec in (recipe.get("backends") or {}).values():  # a URL's user:key@ or ?key= is never stored
        spec["base_url"] = without_credentials(spec.get("base_url"))
    store.set_meta("recipe", json.dumps(recipe))
    return changed
