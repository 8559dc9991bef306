"""A prepared run with its store open: the budget, the calls, the topic trees, the complete
pipeline, what is left to do, and the export. Used by `run` and by `estimate`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..cost.budget import Budget, BudgetReached
from ..cost.prices import PriceTable
from ..errors import ConfigError, RunStopped
from ..export.redact import without_credentials
from ..pipeline import Pipeline
from ..runner import DEFAULT, Caller, RunStats
from ..runner.outage import OutageTooLong
from ..store import Store, merge_shards
from .backends import close_all, start_all
from .directory import RunDirectory
from .plan import RunPlan
from .trees import grow_trees, trees_to_grow

if TYPE_CHECKING:
    from ..batch.dispatcher import BatchBackend

__all__ = ["RunSession", "open_session", "spend_so_far"]


class RunSession:
    """One run's store, budget and caller over a plan; backends are started on first need."""

    def __init__(self, plan: RunPlan, store: Store):
        self.plan = plan
        self.store = store
        tracker = Budget(plan.prices, plan.budget, spent_before=spend_so_far(store, plan.prices, plan.budget)) \
            if plan.prices else None
        self.batches: BatchBackend | None = None
        if plan.spec.batch:  # the default backend's requests go through its provider's batch API (batch/)
            from ..batch import batch_mode
            from ..batch.dispatcher import BatchBackend

            self.plan = plan = batch_mode(plan, store, tracker)
            batches = plan.backends[DEFAULT]
            assert isinstance(batches, BatchBackend)  # batch_mode put it there
            self.batches = batches
        self.caller = Caller(plan.backends, store, plan.options, tracker, plan.limits)
        self.caller.stats.batches = self.batches.progress if self.batches is not None else None
        self.started = False
        self.remote_figures: dict[str, Any] | None = None  # the backend figures of a distributed run's workers

    @property
    def stats(self) -> RunStats:
        return self.caller.stats

    async def start_backends(self) -> None:
        """Start the backends once; generation time is counted from when they answered."""
        if not self.started:
            await start_all(self.plan.backends)
            self.started = True
            self.stats.started = time.monotonic()

    async def complete_pipeline(self) -> Pipeline:
        """Grow the topic trees the run still needs, then build the pipeline, complete."""
        trees = trees_to_grow(self.plan.recipe, self.plan.out)
        if trees:
            await self.start_backends()
        try:
            self.plan.generated = await grow_trees(self.plan.recipe, trees, self.plan.out, self.caller.call_all,
                                                   self.plan.context())
        except BudgetReached as exc:
            raise RunStopped(f"{exc} while growing the topic trees; what was paid for is saved: "
                             "re-run with a higher --budget") from None
        except OutageTooLong as exc:
            raise RunStopped(f"stopped waiting while growing the topic trees: {exc}; what was generated "
                             "is saved, re-run the same command to continue") from None
        return self.plan.pipeline()

    def adopt(self, pipeline: Pipeline) -> bool:
        """Merge what a distributed run's workers left, then keep the records if the recipe is
        unchanged, or drop them (keeping every paid-for response) if it changed."""
        merge_shards(self.store, self.plan.out)
        fingerprint = pipeline.fingerprint()
        previous = self.store.get_meta("recipe_fingerprint")
        changed = previous is not None and previous != fingerprint
        if changed:
            self.store.clear_records()
        self.store.set_meta("recipe_fingerprint", fingerprint)
        recipe = pipeline.recipe.model_dump(mode="json", exclude={"backend"})
        for spec in (recipe.get("backends") or {}).values():  # a URL's user:key@ or ?key= is never stored
            spec["base_url"] = without_credentials(spec.get("base_url"))
        self.store.set_meta("recipe", json.dumps(recipe))
        return changed

    def todo(self, n: int) -> list[int]:
        finished = self.store.finished_indices(n)
        return [i for i in range(n) if i not in finished]

    def backend_figures(self) -> dict[str, Any]:
        """What the default backend reports about itself once generation is over."""
        llm = self.plan.backends[DEFAULT]
        if self.remote_figures is not None:
            return self.remote_figures | {"batches": None}
        return {"endpoints": llm.endpoint_stats(), "engine": llm.engine_stats(),
                "batches": self.batches.summary() if self.batches is not None else None}

    async def close(self) -> None:
        if self.started:
            await close_all(self.plan.backends.values())
            self.started = False


@asynccontextmanager
async def open_session(plan: RunPlan, directory: RunDirectory) -> AsyncIterator[RunSession]:
    """The run's store, opened under the directory's lock (taken now unless the corpus took it)."""
    directory.claim()
    store = Store.open_dir(plan.out)
    session = None
    try:
        session = RunSession(plan, store)
        yield session
    finally:
        try:
            if session is not None:
                await session.close()
        finally:
            store.close()


def spend_so_far(store: Store, prices: PriceTable, budget: float | None) -> float:
    """Dollars for every response this directory has paid for (at today's prices)."""
    usage = store.paid_usage()
    total = prices.detailed_total(store.paid_usage_detail())
    if total is None:
        unpriced = sorted(m for m, (p, c) in usage.items() if prices.price(m) is None and (p or c))
        if budget is not None:
            raise ConfigError(f"no price for model {unpriced[0]!r}, which earlier runs in this directory used: "
                              "add it to the recipe's `prices:` or give --price-in/--price-out")
        total = prices.total({m: u for m, u in usage.items() if m not in unpriced}) or 0.0
    return total
