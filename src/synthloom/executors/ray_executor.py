"""`--executor ray`: the records of a run, sharded over the workers of a Ray cluster.

The driver (the `synthloom run` process) prepares the run as usual (recipe checks, corpus, topic
trees, what is left to do), then splits the remaining record indices into one interleaved shard
per worker. Each worker is a Ray task that rebuilds the pipeline, opens its own backend
connection pool (or loads its own model), and runs the ordinary Runner over its shard, writing to
its own shard store (store/shards.py) and reading the run's store for cached responses. When the
workers finish, the driver merges the shards into the run's store and exports as a local run
does. Records are a function of (recipe, seed, index), so the dataset is the same record for
record as a local run's; a killed run leaves its shards, which the next run merges first.

The output directory must be visible to every worker at the same path: a local cluster, or a
shared filesystem on a multi-node one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cost.budget import Budget
from ..errors import RunStopped, SynthloomError, missing_extra
from ..pipeline import Pipeline
from ..prepare.backends import close_all, start_all
from ..prepare.plan import RunPlan
from ..prepare.session import RunSession
from ..runner import Caller, Runner, RunStats
from ..store import ShardStore, merge_shards, shard_counts
from .base import ProgressCallback

__all__ = ["RayExecutor", "run_shard"]

COUNTERS = ("kept", "rejected", "failed", "requests", "cached", "retries", "prompt_tokens", "completion_tokens")


@dataclass
class RayExecutor:
    """Run a run's records on Ray: `address` None starts a local cluster (`init` options go to
    ray.init, e.g. num_cpus), "auto" joins the one on this machine, "ray://host:10001" a remote one.
    `workers` is the number of shards (default: the cluster's CPUs)."""

    address: str | None = None
    workers: int | None = None
    init: dict[str, Any] = field(default_factory=dict)
    poll: float = 0.5
    used_workers: int = 0  # how many shards the last run had

    def describe(self) -> str:
        return f"ray ({self.address or 'local cluster'})"

    async def run(self, session: RunSession, pipeline: Pipeline, todo: list[int], total: int,
                  on_progress: ProgressCallback | None = None) -> None:
        """Run `todo` on the cluster; the session's stats get the workers' counters summed, and
        the workers' shards are merged into the run's store (also when a worker failed)."""
        stats = session.stats
        stats.total, stats.already_done = total, total - len(todo)
        try:
            await self.run_on_cluster(session.plan, session.caller.budget, todo, stats, on_progress)
        finally:
            merge_shards(session.store, session.plan.out)

    async def run_on_cluster(self, plan: RunPlan, tracker: Budget | None, todo: list[int], stats: RunStats,
                             on_progress: ProgressCallback | None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise missing_extra("ray", exc) from None
        started_here = not ray.is_initialized()
        if started_here:
            try:
                local = {"object_store_memory": 256 * 1024 * 1024} if self.address is None else {}
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, **(local | self.init))
            except Exception as exc:  # noqa: BLE001 - connection errors of every kind: one line
                raise RunStopped(f"cannot start or reach the Ray cluster ({self.address or 'local'}): "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        try:
            workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            workers = max(1, min(workers, len(todo)))
            left = max(0.0, plan.budget - tracker.spent_before) if plan.budget is not None and tracker else None
            share = left / workers if left is not None else None
            task = ray.remote(num_cpus=1, max_retries=0)(run_shard)
            refs = [task.remote(plan, k, todo[k::workers], share) for k in range(workers)]
            await self.wait(ray, refs, plan.out, stats, on_progress)
            results = []
            for ref in refs:
                try:
                    results.append(ray.get(ref))
                except Exception as exc:  # noqa: BLE001 - a worker's error, unwrapped to its one line
                    raise worker_error(exc) from None
        finally:
            if started_here:
                ray.shutdown()
        for name in COUNTERS:
            setattr(stats, name, sum(r[name] for r in results))
        for r in results:
            stats.reasons.update(r["reasons"])
        stats.concurrency = summed_concurrency([r["concurrency"] for r in results])
        if stats.budget is not None:
            stats.budget.spent = sum(r["spent"] for r in results)
            stats.budget.reached = any(r["budget_reached"] for r in results)
        self.used_workers = workers
        stats.executor = {"kind": "ray", "address": self.address or "local", "workers": workers}

    async def wait(self, ray: Any, refs: list[Any], out: Path, stats: RunStats,
                   on_progress: ProgressCallback | None) -> None:
        pending = list(refs)
        while pending:
            _, pending = await asyncio.to_thread(ray.wait, pending, num_returns=len(pending), timeout=self.poll)
            if on_progress:
                counts = shard_counts(out)
                stats.kept, stats.failed = counts["kept"], counts["failed"]
                on_progress(stats)


def summed_concurrency(per_worker: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The workers' gates as one per backend: slots, limits and requests in flight add up
    (max in flight is the sum of the workers' maxima, an upper bound)."""
    from ..runner.limits import ConcurrencyFigures

    names = sorted({name for figures in per_worker for name in figures})
    return {name: ConcurrencyFigures(**{key: round(sum(f[name][key] for f in per_worker if name in f), 3)
                                       for key in ConcurrencyFigures.__dataclass_fields__})
            for name in names}


def run_shard(plan: RunPlan, shard: int, indices: list[int], budget: float | None) -> dict[str, Any]:
    """A worker: its records through the same Runner as a local run, into its shard store."""
    return asyncio.run(run_shard_async(plan, shard, indices, budget))


async def run_shard_async(plan: RunPlan, shard: int, indices: list[int], budget: float | None) -> dict[str, Any]:
    pipeline = plan.pipeline()
    store = ShardStore.for_worker(plan.out, shard)
    tracker = Budget(plan.prices, budget) if plan.prices else None
    try:
        caller = Caller(plan.backends, store, plan.options, tracker, plan.limits)
        await start_all(plan.backends)
        try:
            await Runner(pipeline, caller).run(indices)
        finally:
            await close_all(plan.backends.values())
    finally:
        store.close()
    s = caller.stats
    return {**{name: getattr(s, name) for name in COUNTERS}, "reasons": dict(s.reasons),
            "concurrency": {name: f.to_dict() for name, f in s.concurrency.items()},
            "spent": tracker.spent if tracker else 0.0, "budget_reached": bool(tracker and tracker.reached)}


def worker_error(exc: BaseException) -> SynthloomError:
    """A worker's failure as the one-line error the CLI prints (its own, when it raised one)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, SynthloomError):
        return cause
    text = str(cause).strip().splitlines()
    return RunStopped(f"a Ray worker failed: {type(cause).__name__}: {text[-1] if text else ''}")

