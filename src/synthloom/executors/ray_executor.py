"""`--executor ray`: the records of a run, sharded over the workers of a Ray cluster.

The driver (the `synthloom run` process) prepares the run as usual (recipe checks, corpus, topic
trees, what is left to do), then splits the remaining record indices into one interleaved shard
per worker. Each worker is a Ray task that rebuilds the pipeline from the plan, opens its own
backend connection pool (or loads its own model), and runs the ordinary Runner over its shard.
Workers open no file of the run directory: their look-ups, responses, records, failures and
budget holds go to one `StoreWriter` actor pinned to the driver's node (ray_store.py), the only
writer of the run's store while they run. Records are a function of (recipe, seed, index), so
the dataset is the same record for record as a local run's; every response is stored before it
is used, so a killed run re-sends at most what was in flight.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..cost.budget import Budget
from ..errors import ConfigError, RunStopped, SynthloomError, missing_extra
from ..pipeline import Pipeline
from ..prepare.backends import close_all, start_all
from ..prepare.plan import RunPlan
from ..prepare.session import RunSession
from ..runner import DEFAULT, Caller, Runner, RunStats
from .base import ProgressCallback
from .figures import merged_engine, merged_figures, summed_concurrency, worker_figures
from .ray_store import TOKEN_KEY, RemoteBudget, RemoteStore, StoreWriter

__all__ = ["RayExecutor", "run_shard"]

# Whether this process has started a local cluster: Ray keeps that cluster's token authentication
# for the life of the process, and a later cluster without it then drops the writer unstarted.
PROCESS = {"started_a_local_cluster": False}

COUNTERS = ("kept", "rejected", "failed", "requests", "cached", "retries", "prompt_tokens", "completion_tokens")


@dataclass
class RayExecutor:
    """Run a run's records on Ray: `address` None starts a local cluster (`init` options go to
    ray.init, e.g. num_cpus), "auto" joins the one on this machine, "HOST:6379" another one.
    `workers` is the number of shards (default: the cluster's CPUs). A shard whose worker or node
    dies is retried up to `retries` times on what is left of the cluster, skipping the records it
    stored; with no CPU left in the cluster for `wait_for_cpu` seconds the run stops."""

    address: str | None = None
    workers: int | None = None
    init: dict[str, Any] = field(default_factory=dict)
    poll: float = 0.5
    retries: int = 3
    wait_for_cpu: float = 300.0
    used_workers: int = 0  # how many shards the last run had

    def __post_init__(self) -> None:
        if self.address and self.address.startswith("ray://"):
            raise ConfigError(f"--ray-address {self.address}: a Ray Client driver runs off the cluster, where the run's "
                              "store writer cannot reach its output directory; run synthloom on a node of the cluster "
                              "with --ray-address auto (or HOST:6379)")

    def describe(self) -> str:
        return f"ray ({self.address or 'local cluster'})"

    async def run(self, session: RunSession, pipeline: Pipeline, todo: list[int], total: int,
                  on_progress: ProgressCallback | None = None) -> None:
        """Run `todo` on the cluster, written by one writer into the session's store; the
        session's stats get the workers' figures merged."""
        stats = session.stats
        stats.total, stats.already_done = total, total - len(todo)
        session.store.flush()
        try:
            await self.run_on_cluster(session, todo, stats, on_progress)
        finally:
            session.store.reload()

    async def run_on_cluster(self, session: RunSession, todo: list[int], stats: RunStats,
                             on_progress: ProgressCallback | None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise missing_extra("ray", exc) from None
        started_here, environ = not ray.is_initialized(), dict(os.environ)
        if started_here:
            check_reachable(self.address)
            try:
                local = {"object_store_memory": 256 * 1024 * 1024} if self.address is None else {}
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, **(local | self.init))
                PROCESS["started_a_local_cluster"] |= self.address is None
            except Exception as exc:  # noqa: BLE001 - connection errors of every kind: one line
                raise RunStopped(f"cannot start or reach the Ray cluster ({self.address or 'local'}): "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        try:
            plan, tracker = session.plan, session.caller.budget
            budget = tracker if plan.budget is not None and isinstance(tracker, Budget) else None
            shared = budget is not None  # held by the writer for every worker
            writer = start_writer(ray, session, budget)
            try:
                workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
                workers = max(1, min(workers, len(todo)))
                # a lost worker or node is retried (retry_exceptions off: an error of ours is not)
                task = ray.remote(num_cpus=1, max_retries=self.retries, retry_exceptions=False)(run_shard)
                sent = ray.put(plan)  # once in the object store, not once per task (a corpus rides in it)
                refs = [task.remote(sent, todo[k::workers], writer, shared) for k in range(workers)]
                await self.wait(ray, refs, writer, stats, on_progress)
                results, errors = [], []
                for ref in refs:
                    try:
                        results.append(ray.get(ref))
                    except Exception as exc:  # noqa: BLE001 - a worker's error, unwrapped to its one line
                        errors.append(worker_error(exc))
            finally:
                final = stop_writer(ray, writer)
        finally:
            if started_here:
                ray.shutdown()
                restore_environ(environ)
        if errors:
            raise errors[0]
        finished = {r["attempt"] for r in results}
        lost = [f for attempt, f in final["attempts"].items() if attempt not in finished]
        self.merge(session, stats, results, lost, final, shared, workers)

    def merge(self, session: RunSession, stats: RunStats, results: list[dict[str, Any]],
              lost: list[dict[str, Any]], final: dict[str, Any], shared: bool, workers: int) -> None:
        """The workers' figures into the run's stats. An attempt whose worker died counts with its
        last figures (its requests were paid for); its gates do not (they no longer exist)."""
        concurrency, results = [r["concurrency"] for r in results], results + lost
        for name in COUNTERS:
            setattr(stats, name, sum(r[name] for r in results))
        for r in results:
            stats.reasons.update(r["reasons"])
        stats.concurrency = summed_concurrency(concurrency)
        stats.outages = merged_figures([r["outages"] for r in results])
        session.remote_figures = {"endpoints": merged_figures([r["endpoints"] for r in results]),
                                  "engine": merged_engine([r["engine"] for r in results])}
        if stats.budget is not None:
            stats.budget.spent = final["spent"] if shared else sum(r["spent"] for r in results)
            stats.budget.reached = final["reached"] if shared else False
        self.used_workers = workers
        stats.executor = {"kind": "ray", "address": self.address or "local", "workers": workers,
                          "lost_attempts": len(lost)}

    async def wait(self, ray: Any, refs: list[Any], writer: Any, stats: RunStats,
                   on_progress: ProgressCallback | None) -> None:
        pending, no_cpu_since = list(refs), None
        while pending:
            _, pending = await asyncio.to_thread(ray.wait, pending, num_returns=len(pending), timeout=self.poll)
            if pending and ray.cluster_resources().get("CPU", 0) < 1:
                no_cpu_since = no_cpu_since or time.monotonic()
                if time.monotonic() - no_cpu_since > self.wait_for_cpu:
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    raise RunStopped(f"no Ray node with a CPU for the workers for {self.wait_for_cpu:.0f}s "
                                     "(did the worker nodes die?); what was stored is kept: start a node and "
                                     "re-run the same command to continue")
            else:
                no_cpu_since = None
            if on_progress:
                progress = await asyncio.to_thread(ray.get, writer.progress.remote())
                stats.kept, stats.failed = progress["kept"], progress["failed"]
                on_progress(stats)


def restore_environ(saved: dict[str, str]) -> None:
    """Undo what `ray.init` wrote into this process's environment: starting a local cluster sets
    RAY_AUTH_MODE=token, which a later run in the same process (or a subprocess it starts) would
    present to a cluster that has no token, and Ray then drops its actors before they start."""
    for key in [k for k in os.environ if k.startswith("RAY_") or k == "PYTHONBREAKPOINT"]:
        if key in saved:
            os.environ[key] = saved[key]
        else:
            del os.environ[key]


def check_reachable(address: str | None) -> None:
    """A HOST:PORT that refuses connections is one line now (ray.init would retry for minutes)."""
    import socket

    host, _, port = (address or "").rpartition(":")
    if not host or not port.isdigit():
        return  # a local cluster, or "auto"
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise RunStopped(f"cannot reach the Ray cluster ({address}): {exc.strerror or exc}") from None


def start_writer(ray: Any, session: RunSession, budget: Budget | None) -> Any:
    """The run's one writer: an actor on the driver's node (no CPU) that opens the driver's store,
    proved to be the same file by a token the driver writes first."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    session.store.set_meta(TOKEN_KEY, token)
    session.store.flush()
    node = ray.get_runtime_context().get_node_id()
    actor = ray.remote(num_cpus=0, max_restarts=0)(StoreWriter).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
    writer = actor.remote(str(session.store.path), token, budget)
    try:
        ray.get(writer.open.remote(node[:12]))
    except Exception as exc:  # noqa: BLE001 - the writer cannot open the store: one line
        ray.kill(writer)
        if "never ran" in str(exc) and PROCESS["started_a_local_cluster"]:
            raise RunStopped("Ray dropped the run's store writer before it started: this Python process "
                             "started a local Ray cluster earlier, and Ray keeps its authentication for "
                             "the life of the process; run this one in a new process") from None
        raise worker_error(exc) from None
    return writer


def stop_writer(ray: Any, writer: Any) -> dict[str, Any]:
    """Commit and close the writer's store; its last figures (the shared spend)."""
    try:
        return ray.get(writer.close.remote())
    except Exception as exc:  # noqa: BLE001 - the writer died: what it committed is in the store
        raise worker_error(exc) from None
    finally:
        ray.kill(writer)


def run_shard(plan: RunPlan, indices: list[int], writer: Any, shared_budget: bool) -> dict[str, Any]:
    """A worker: its records through the same Runner as a local run, stored by the writer."""
    return asyncio.run(run_shard_async(plan, indices, writer, shared_budget))


async def run_shard_async(plan: RunPlan, indices: list[int], writer: Any, shared_budget: bool) -> dict[str, Any]:
    indices = await writer.unfinished.remote(indices)
    pipeline = plan.pipeline()
    attempt = uuid.uuid4().hex  # this attempt at the shard: a retry after a lost worker is another
    store = RemoteStore(writer, snapshot=lambda: ("figures", attempt, figures_so_far(caller, plan, tracker)))
    tracker = RemoteBudget(store) if shared_budget else Budget(plan.prices) if plan.prices else None
    caller = Caller(plan.backends, store, plan.options, tracker, plan.limits)
    try:
        await start_all(plan.backends)
        try:
            await Runner(pipeline, caller).run(indices)
            figures = figures_so_far(caller, plan, tracker)
        finally:
            await close_all(plan.backends.values())
    finally:
        await store.aclose()
    return figures | {"attempt": attempt}


def figures_so_far(caller: Caller, plan: RunPlan, tracker: Any) -> dict[str, Any]:
    """A worker's figures; also sent to the writer with each batch, so that if the worker dies its
    last ones count in run.json (the responses a batch stores were counted before it was sent)."""
    spent = tracker.spent if isinstance(tracker, Budget) else 0.0
    return worker_figures(caller.stats, plan.backends[DEFAULT], COUNTERS) | {"spent": spent}


def worker_error(exc: BaseException) -> SynthloomError:
    """A worker's failure as the one-line error the CLI prints (its own, when it raised one)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, SynthloomError):
        return cause
    return RunStopped(f"a Ray worker failed: {type(cause).__name__}: {reason(cause)}; "
                      "what it stored is kept: re-run the same command to continue")


def reason(exc: BaseException) -> str:
    """The informative end of a Ray error: its last line, and for an actor that never started the
    line before it too (why it was cancelled; Ray puts it between tab-indented fields and the note)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip() and not line.startswith("\t")]
    if len(lines) > 2 and "never ran" in lines[-1]:
        return f"{lines[-2]} ({lines[-1]})"
    return lines[-1] if lines else ""
