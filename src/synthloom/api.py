"""The Python API behind `synthloom run`: recipe in, dataset directory out."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.base import AuthFailed, Backend
from .cost.prices import PriceTable
from .errors import ConfigError, RunStopped
from .executors.base import Executor, LocalExecutor
from .export.run_files import export_run
from .prepare.backends import resolve_backend_spec
from .prepare.directory import RunDirectory
from .prepare.plan import check_n, load_run_recipe, prepare_run
from .prepare.session import open_session
from .recipe.model import BackendSpec, Recipe
from .registry import Registry
from .runner import RunOptions, RunStats
from .runner.outage import OutageTooLong
from .sampling.data import records_for_run

__all__ = ["run", "run_async", "RunResult", "resolve_backend_spec", "run_in_new_loop"]


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

    def to_pandas(self) -> Any:
        """The kept rows, in record order, as a pandas DataFrame."""
        from .export.frames import to_pandas

        return to_pandas(self.out)

    def to_datasets(self) -> Any:
        """The kept rows, in record order, as a `datasets.Dataset`."""
        from .export.frames import to_datasets

        return to_datasets(self.out)


def run(
    recipe: Recipe | str | Path,
    n: int | None = None,
    out: str | Path | None = None,
    *,
    data: dict[str, Any] | None = None,
    backend: BackendSpec | Backend | None = None,
    options: RunOptions | None = None,
    registry: Registry | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    corpus: str | Path | None = None,
    prices: PriceTable | None = None,
    budget: float | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Generate records 0..n-1 of `recipe` into `out`, resuming whatever is already there.

    `corpus` (an ingested corpus directory, or documents to ingest into OUT/corpus) overrides
    the recipe's `corpus:`. `prices` (default: the recipe's `prices:`) makes the run count
    dollars; `budget` stops it before the directory's spend could pass that many dollars
    (resumable: run again with a higher budget). `executor` (a `synthloom.executors.RayExecutor`)
    shards the records over a Ray cluster; the result is the same. Works in scripts and notebooks.
    `data` gives entity lists by name as in-memory data (a pandas or polars DataFrame, a
    `datasets.Dataset`, a pyarrow Table or a list of dicts) in place of the recipe's files.
    `n` None makes one record per row when a slot uses `sampler: each` (else 10); `out` None is runs/NAME.
    """
    coroutine = run_async(recipe, n, out, data=data, backend=backend, options=options, registry=registry,
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
    n: int | None = None,
    out: str | Path | None = None,
    *,
    data: dict[str, Any] | None = None,
    backend: BackendSpec | Backend | None = None,
    options: RunOptions | None = None,
    registry: Registry | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    corpus: str | Path | None = None,
    prices: PriceTable | None = None,
    budget: float | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """The async form of `run`."""
    if n is not None:
        check_n(n)
    executor = executor or LocalExecutor()
    recipe = load_run_recipe(recipe)
    with RunDirectory(out if out is not None else Path("runs") / recipe.name) as directory:
        plan = prepare_run(recipe, directory, backend=backend, options=options, registry=registry, corpus=corpus,
                           prices=prices, budget=budget, data=data)
        n = records_for_run(n, plan.recipe, plan.entities)  # -n may be left out when a slot walks rows with `each`
        if plan.spec.batch and not isinstance(executor, LocalExecutor):
            raise ConfigError("--batch runs in this process: leave out --executor ray")
        async with open_session(plan, directory) as session:
            pipeline = await session.complete_pipeline()
            changed = session.adopt(pipeline)
            todo = session.todo(n)
            if todo:
                try:
                    await executor.run(session, pipeline, todo, n, on_progress)
                except AuthFailed as exc:
                    raise RunStopped(f"the server refused the API key from ${plan.spec.api_key_env} ({exc}); "
                                     "everything generated so far is saved") from None
                except OutageTooLong as exc:
                    raise RunStopped(f"stopped waiting: {exc}; everything generated so far is saved, "
                                     "re-run the same command to continue") from None
            else:
                session.stats.total = session.stats.already_done = n
                session.caller.record_figures()
            counts = export_run(session.store, pipeline, plan.out, n, plan.spec, session.stats, plan.prices,
                                **session.backend_figures())
    return RunResult(plan.out, session.stats, counts["kept"], counts["rejected"], changed, plan.ingested,
                     counts["grounding"], counts["curation"], counts["cost"])
