"""The runner against the fake backend: cache, retries by error type, failures, fatal errors."""

import asyncio

import pytest

from synthloom import FakeBackend, default_registry, parse_recipe
from synthloom.backends import AuthFailed, BadRequest, RateLimited, ServerError
from synthloom.pipeline import build_pipeline
from synthloom.runner import DEFAULT, Caller, Runner, RunOptions, backoff_delay
from synthloom.store import Store
from tests.conftest import SMALL_RECIPE

FAST = RunOptions(concurrency=4, backoff_base=0.001, backoff_max=0.01)


def make_runner(tmp_path, backend, options=FAST):
    pipeline = build_pipeline(parse_recipe(SMALL_RECIPE), default_registry())
    return Runner(pipeline, Caller({DEFAULT: backend}, Store.open_dir(tmp_path), options))


def test_two_stages_feed_each_other(tmp_path):
    backend = FakeBackend()
    runner = make_runner(tmp_path, backend, RunOptions(sequential=True))
    asyncio.run(runner.run(range(3)))
    assert runner.stats.kept == 3 and runner.stats.requests == 6
    rows = list(runner.store.iter_rows(3))
    assert rows[0]["story"] in backend.requests[1].messages[0]["content"]
    assert rows[0]["title"].startswith("[fake ")


def test_cache_means_no_request_is_sent_twice(tmp_path):
    first = FakeBackend()
    asyncio.run(make_runner(tmp_path, first).run(range(5)))
    runner = make_runner(tmp_path, FakeBackend())
    runner.store.clear_records()
    asyncio.run(runner.run(range(5)))
    assert runner.stats.requests == 0 and runner.stats.cached == 10 and runner.stats.kept == 5


def test_transient_errors_are_retried(tmp_path):
    backend = FakeBackend()
    backend.enqueue(ServerError("503"), RateLimited("slow down", retry_after=0.01), "a story")
    runner = make_runner(tmp_path, backend, RunOptions(sequential=True, backoff_base=0.001))
    asyncio.run(runner.run([0]))
    assert runner.stats.retries == 2 and runner.stats.kept == 1
    assert list(runner.store.iter_rows(1))[0]["story"] == "a story"


def test_exhausted_retries_become_a_transient_failure(tmp_path):
    backend = FakeBackend(replies=[ServerError("HTTP 500: boom")] * 3)  # the server answers: not an outage
    runner = make_runner(tmp_path, backend, RunOptions(sequential=True, max_attempts=3, backoff_base=0.001))
    asyncio.run(runner.run([0]))
    failure = next(runner.store.iter_failures(1))
    assert failure["reason"] == "server_error" and failure["transient"] is True
    assert runner.store.finished_indices(1) == set()


def test_bad_request_is_not_retried(tmp_path):
    backend = FakeBackend(replies=[BadRequest("nope")])
    runner = make_runner(tmp_path, backend, RunOptions(sequential=True))
    asyncio.run(runner.run([0]))
    assert runner.stats.requests == 1 and runner.stats.rejected == 1
    assert runner.store.finished_indices(1) == {0}


def test_empty_reply_is_rejected_with_reason(tmp_path):
    backend = FakeBackend(replies=["   "])
    runner = make_runner(tmp_path, backend, RunOptions(sequential=True))
    asyncio.run(runner.run([0]))
    failure = next(runner.store.iter_failures(1))
    assert (failure["stage"], failure["reason"]) == ("story", "empty_output")
    assert failure["row"]["noun"]


def test_auth_failure_stops_the_whole_run(tmp_path):
    backend = FakeBackend(replies=[AuthFailed("401")])
    runner = make_runner(tmp_path, backend)
    with pytest.raises(AuthFailed):
        asyncio.run(runner.run(range(20)))
    assert runner.stats.kept < 20


def test_auth_failure_stops_the_other_workers_too(tmp_path):
    """Workers still busy when one meets a fatal error are cancelled, not left sending requests."""
    backend = FakeBackend(replies=[AuthFailed("401")], latency=0.01)
    runner = make_runner(tmp_path, backend)

    async def run_then_wait():
        with pytest.raises(AuthFailed):
            await runner.run(range(200))
        sent = len(backend.requests)
        await asyncio.sleep(0.2)  # the caller's loop goes on (the Python API inside an application)
        return sent, len(backend.requests)

    sent, later = asyncio.run(run_then_wait())
    assert later == sent < 20


def test_concurrency_is_bounded(tmp_path):
    class Counting(FakeBackend):
        active = peak = 0

        async def complete(self, request):
            Counting.active += 1
            Counting.peak = max(Counting.peak, Counting.active)
            await asyncio.sleep(0.001)
            Counting.active -= 1
            return await super().complete(request)

    runner = make_runner(tmp_path, Counting(), RunOptions(concurrency=5))
    asyncio.run(runner.run(range(40)))
    assert runner.stats.kept == 40 and Counting.peak == 5


def test_retry_after_is_a_floor():
    import random

    delay = backoff_delay(1, RateLimited("x", retry_after=2.0), 0.1, 30, random.Random(0))
    assert delay >= 2.0
    assert backoff_delay(1, ServerError("x"), 0.1, 30, random.Random(0)) <= 0.1
