"""A server that goes away mid-run: the run pauses, probes, and completes once it is back,
without using up any record's retries; one that never comes back stops the run, everything saved."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time

import pytest

from synthloom.backends.base import BadRequest, RateLimited, ServerError, Timeout, Unreachable
from synthloom.runner.outage import OutageGuard, OutageTooLong, is_outage
from tests.backends.scripted_server import completion, scripted_server
from tests.conftest import SYNTHLOOM, run_cli

RECIPE = """\
name: outage
seed: 3
entities:
  topics: [cats, dogs, rain, trains, bread, stars, rivers, kites]
slots:
  topic: {from: topics, sampler: coverage}
stages:
  - name: text
    prompt: "One sentence about {{ topic }}."
    params: {max_tokens: 16}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_is_outage_tells_server_failures_from_request_failures():
    assert is_outage(Unreachable("refused")) and not is_outage(Timeout("slow")), "a slow server is not gone"
    assert is_outage(ServerError("Server disconnected")) and is_outage(ServerError("HTTP 502: bad gateway"))
    assert is_outage(ServerError("HTTP 504: gateway timeout")) and not is_outage(ServerError("HTTP 503: busy"))
    assert not is_outage(ServerError("HTTP 500: boom")), "a 500 is the server answering"
    assert not is_outage(RateLimited("HTTP 429")) and not is_outage(BadRequest("HTTP 400"))


def test_guard_goes_down_after_consecutive_failures_and_an_answer_ends_it():
    clock = Clock()
    guard = OutageGuard(threshold=3, base=0.5, cap=4.0, max_outage=60, clock=clock)
    assert guard.failed(Unreachable("x")) is False and guard.failed(Unreachable("x")) is False
    guard.answered()  # an answer in between: two failures in a row are not an outage
    assert not any(guard.failed(Timeout("slow")) for _ in range(5)) and not guard.down, "timeouts alone: no outage"
    assert guard.failed(Unreachable("x")) is False and guard.failed(Unreachable("x")) is False
    assert guard.failed(Unreachable("x")) is True and guard.down
    assert guard.failed(Timeout("x")) is True and guard.down, "a timeout during the outage is forgiven, ends nothing"
    assert guard.failed(BadRequest("HTTP 400")) is False and not guard.down, "a 4xx proves the server is back"
    assert guard.figures()["outages"] == 1


def test_guard_sends_one_probe_at_a_time_doubling_the_wait():
    async def scenario() -> list[float]:
        clock = Clock()
        guard = OutageGuard(threshold=1, base=0.5, cap=2.0, max_outage=60, clock=clock)
        guard.failed(Unreachable("gone"))
        probes = []
        for _ in range(4):
            clock.now = guard.next_probe  # the probe's time has come
            assert await guard.admit() is True
            probes.append(guard.next_probe)
            waiter = asyncio.ensure_future(guard.admit())  # another request waits while the probe is out
            await asyncio.sleep(0)
            assert not waiter.done()
            waiter.cancel()
            guard.failed(Unreachable("still gone"), probe=True)
        assert guard.delay == 2.0, "doubling, capped"
        later = asyncio.ensure_future(guard.admit())
        await asyncio.sleep(0)
        guard.answered(probe=False)  # any answer (another backend call) lets everyone go
        assert await asyncio.wait_for(later, 1) is False
        return probes

    asyncio.run(scenario())


def test_guard_gives_up_after_max_outage():
    async def scenario() -> None:
        clock = Clock()
        guard = OutageGuard(threshold=1, base=0.5, cap=1.0, max_outage=10, clock=clock)
        guard.failed(Unreachable("gone"))
        clock.now += 11
        with pytest.raises(OutageTooLong, match="has not answered for 11s"):
            await guard.admit()

    asyncio.run(scenario())


def answer_after(delay: float):
    async def answer(body: dict, call: int):
        await asyncio.sleep(delay)
        return completion(f"{body['messages'][-1]['content']} #{body.get('seed')}")
    return answer


def identities(calls: list[dict]) -> list[str]:
    return [json.dumps([c["body"]["messages"], c["body"].get("seed")], sort_keys=True) for c in calls]


@pytest.mark.timeout(180)
def test_run_survives_a_30s_outage_without_using_up_retries(tmp_path):
    """The server dies after 60 answers and comes back on the same port 30 s later. With
    --max-attempts 3 and the runner's backoff a record would give up after about 1.5 s of failures;
    the run instead pauses, probes, and finishes every record once the server is back."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out, n, outage = tmp_path / "out", 200, 30.0
    with scripted_server(answer_after(0.02)) as first:
        port = int(first["url"].rsplit(":", 1)[1].split("/")[0])
        proc = subprocess.Popen([SYNTHLOOM, "run", str(recipe), "-n", str(n), "--backend", "openai", "--base-url",
                                 first["url"], "--model", "m", "--concurrency", "8", "--max-attempts", "3",
                                 "--timeout", "5", "--quiet", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while len(first["calls"]) < 60 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.005)
        first["kill"]()
        killed_at = time.monotonic()
        calls_before = list(first["calls"])
    assert proc.poll() is None, "the run must still be going when the server dies"
    time.sleep(max(0.0, outage - (time.monotonic() - killed_at)))
    assert proc.poll() is None, "the run must wait for the server, not give up"
    with scripted_server(answer_after(0.02), port=port) as second:
        stdout, stderr = proc.communicate(timeout=120)
        calls_after = list(second["calls"])
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == n and summary["rejected"] == 0
    outages = summary["this_run"]["outages"][""]
    assert outages["outages"] >= 1 and outages["seconds_down"] >= outage - 5
    assert outages["failures_during_outages"] >= 3, "probes failed during the outage and were not counted"
    assert "went away" in stdout
    sent = identities(calls_before) + identities(calls_after)
    assert len(set(sent)) == n
    assert len(sent) - n <= 8, f"{len(sent) - n} requests sent twice: more than were in flight at the kill"


@pytest.mark.timeout(120)
def test_server_that_never_returns_stops_the_run_with_everything_saved(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out, n = tmp_path / "out", 100
    with scripted_server(answer_after(0.01)) as server:
        url = server["url"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        result: dict = {}

        def run() -> None:
            result["done"] = run_cli("run", recipe, "-n", n, "--backend", "openai", "--base-url", url, "--model", "m",
                                     "--concurrency", "4", "--max-outage", "3", "--timeout", "5", "--out", out)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 60
        while len(server["calls"]) < 30 and time.time() < deadline:
            time.sleep(0.005)
        server["kill"]()
        answered = len(server["calls"])
    thread.join(90)
    done = result["done"]
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert any("has not answered" in line and "--max-outage" in line and "re-run" in line for line in lines), lines
    import sqlite3

    stored = sqlite3.connect(out / "store.sqlite").execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert 20 <= stored <= answered, "the records answered before the outage are saved"
    with scripted_server(answer_after(0.0), port=port) as back:
        rerun = run_cli("run", recipe, "-n", n, "--backend", "openai", "--base-url", back["url"], "--model", "m",
                        "--concurrency", "4", "--quiet", "--out", out)
        resent = len(back["calls"])
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "run.json").read_text())["kept"] == n
    assert resent == n - stored, "stored records are not paid again"
