"""The workers' store client and the one writer, without a cluster: the writer's `apply` is
awaited the way a Ray actor call is (executors/ray_store.py)."""

import asyncio
import sqlite3
from types import SimpleNamespace

import pytest

from synthloom.backends.base import Request, Response
from synthloom.cost.budget import Budget, BudgetReached
from synthloom.cost.prices import PriceTable
from synthloom.errors import RunStopped
from synthloom.executors.figures import merged_engine, merged_figures
from synthloom.executors.ray_store import TOKEN_KEY, RemoteBudget, RemoteStore, StoreWriter
from synthloom.record import Record
from synthloom.store import Store


class Actor:
    """A StoreWriter behind an awaitable `apply.remote`, as a worker sees the Ray actor."""

    def __init__(self, writer, delay=0.0, fail_after=None):
        self.writer, self.delay, self.fail_after, self.sizes = writer, delay, fail_after, []
        self.apply = SimpleNamespace(remote=self.call)

    async def call(self, ops):
        if self.fail_after is not None and len(self.sizes) >= self.fail_after:
            raise ConnectionError("the actor died\nunexpectedly")
        self.sizes.append(len(ops))
        await asyncio.sleep(self.delay)
        return self.writer.apply(ops)


def open_writer(tmp_path, budget=None):
    store = Store(tmp_path / "store.sqlite")
    store.set_meta(TOKEN_KEY, "t")
    store.close()
    writer = StoreWriter(str(tmp_path / "store.sqlite"), "t", budget)
    writer.open("node")
    return writer


def stored(tmp_path, key):
    db = sqlite3.connect(tmp_path / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM responses WHERE key = ?", (key,)).fetchone()[0] == 1
    finally:
        db.close()


def committed(tmp_path, table):
    db = sqlite3.connect(tmp_path / "store.sqlite")
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def test_a_saved_response_is_committed_before_the_worker_goes_on_and_batches_group_the_calls(tmp_path):
    writer = open_writer(tmp_path)
    actor = Actor(writer, delay=0.005)

    async def worker():
        client = RemoteStore(actor)

        async def one(i):
            assert await client.fetch_response(f"k{i}") is None
            await client.save_response(f"k{i}", "{}", Response(text=f"t{i}"))
            assert stored(tmp_path, f"k{i}")  # committed to the file before the worker uses it
            client.put_record(Record(i, f"r{i}", {}, {"text": f"t{i}"}))

        await asyncio.gather(*(one(i) for i in range(200)))
        assert (await client.fetch_response("k7")).text == "t7"  # another request's response is found
        await client.aclose()

    asyncio.run(worker())
    writer.close()
    assert committed(tmp_path, "responses") == 200 and committed(tmp_path, "records") == 200
    assert len(actor.sizes) < 50  # 200 look-ups, 200 saves and 200 records went in a few batches


def test_a_full_queue_makes_look_ups_wait(tmp_path):
    writer = open_writer(tmp_path)
    actor = Actor(writer, delay=0.05)

    async def worker():
        client = RemoteStore(actor, max_batch=5, max_queued=20)
        for i in range(30):  # records queue without waiting...
            client.put_record(Record(i, f"r{i}", {}))
        look_up = asyncio.create_task(client.fetch_response("x"))
        await asyncio.sleep(0.02)
        assert len(client.queue) >= 20 and not any(op[0] == "get" for op, _ in client.queue)  # ...a look-up waits
        assert await look_up is None
        await client.aclose()

    asyncio.run(worker())
    writer.close()
    assert committed(tmp_path, "records") == 30


def test_a_lost_writer_stops_the_worker_with_one_line(tmp_path):
    actor = Actor(open_writer(tmp_path), fail_after=1)

    async def worker():
        client = RemoteStore(actor)
        assert await client.fetch_response("a") is None
        with pytest.raises(RunStopped, match=r"lost the run.s store writer \(ConnectionError: unexpectedly\); re-run") as caught:
            await client.fetch_response("b")
        assert "\n" not in str(caught.value)
        with pytest.raises(RunStopped):
            client.put_record(Record(1, "r1", {}))
        with pytest.raises(RunStopped):
            await client.aclose()

    asyncio.run(worker())


def test_the_budget_is_one_spend_for_every_worker(tmp_path):
    prices = PriceTable.for_run(None, 100.0, 300.0)
    writer = open_writer(tmp_path, Budget(prices, limit=0.01))
    request = Request(messages=[{"role": "user", "content": "x" * 30}], max_tokens=10)

    async def workers():
        clients = [RemoteStore(Actor(writer)) for _ in range(2)]
        budgets = [RemoteBudget(c) for c in clients]
        held = 0
        with pytest.raises(BudgetReached):
            for turn in range(100):
                await budgets[turn % 2].reserve(request, "m")
                held += 1
        assert budgets[held % 2].reached and 1 <= held < 100
        for c in clients:
            await c.aclose()
        return held

    asyncio.run(workers())
    assert writer.progress()["reached"] and writer.budget.held <= 0.01


def test_a_writer_that_cannot_see_the_store_stops_the_run_with_one_line(tmp_path):
    Store(tmp_path / "store.sqlite").close()
    with pytest.raises(RunStopped, match="another"):
        StoreWriter(str(tmp_path / "store.sqlite"), "token", None).open("node")
    with pytest.raises(RunStopped, match="cannot see"):
        StoreWriter(str(tmp_path / "nowhere" / "store.sqlite"), "token", None).open("node")


def test_the_workers_figures_merge_into_one():
    per_worker = [{"default": {"outages": 1, "seconds_down": 2.5, "failures_during_outages": 3}},
                  {"default": {"outages": 2, "seconds_down": 1.0, "failures_during_outages": 0}}]
    assert merged_figures(per_worker) == {"default": {"outages": 3, "seconds_down": 3.5, "failures_during_outages": 3}}
    endpoints = [[{"url": "http://a", "requests": 5, "down": False}, {"url": "http://b", "requests": 1, "down": True}],
                 [{"url": "http://a", "requests": 7, "down": False}]]
    assert merged_figures(endpoints) == [{"url": "http://a", "requests": 12, "down": False},
                                         {"url": "http://b", "requests": 1, "down": True}]
    assert merged_figures([None, {"steps": 4}, {"steps": 6, "parallel": 8}]) == {"steps": 10, "parallel": 8}
    assert merged_figures([None, None]) is None


def test_engine_figures_of_two_workers_average_what_is_a_mean_and_add_the_rest():
    a = {"parallel": 4, "steps": 100, "mean_sequences_per_step": 4.0, "generation_tokens_per_s": 150.0,
         "prompt_steps": 10, "prompt_tokens": 500, "seconds_generating": 2.0, "seconds_with_prompts": 0.5}
    b = {"parallel": 4, "steps": 300, "mean_sequences_per_step": 2.0, "generation_tokens_per_s": 100.0,
         "prompt_steps": 30, "prompt_tokens": 900, "seconds_generating": 6.0, "seconds_with_prompts": 1.5}
    merged = merged_engine([a, None, b])
    assert merged["mean_sequences_per_step"] == 2.5  # (4*100 + 2*300) / 400, not 6.0
    assert merged["steps"] == 400 and merged["parallel"] == 8 and merged["prompt_tokens"] == 1400
    assert merged["generation_tokens_per_s"] == 250.0  # the workers decode at the same time
    assert merged_engine([None, None]) is None
