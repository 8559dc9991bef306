"""Rate limits and AIMD concurrency: the buckets and the gate on a fake clock, then whole runs
against a scripted server that answers 429 when it has too much in flight."""

import asyncio
import json
import time

import pytest

import synthloom
from synthloom import FakeBackend, default_registry, parse_recipe
from synthloom.backends import BadRequest, RateLimited, Request, ServerError, Timeout, Usage
from synthloom.cli import main
from synthloom.pipeline import build_pipeline
from synthloom.recipe.model import BackendSpec
from synthloom.runner import DEFAULT, Caller, Runner, RunOptions
from synthloom.runner.limits import AdaptiveConcurrency, LimitSettings, RateLimit
from synthloom.store import Store
from tests.backends.scripted_server import completion, json_error, scripted_server
from tests.conftest import SMALL_RECIPE


class FakeClock:
    """Time that moves only when someone sleeps (one sleeper at a time) or a test sets it."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def request(chars=300, max_tokens=None):
    return Request(({"role": "user", "content": "x" * chars},), max_tokens=max_tokens)


# --- RateLimit ---

def test_rpm_lets_the_burst_through_then_paces_at_the_limit():
    clock = FakeClock()
    limit = RateLimit(rpm=120, clock=clock, sleep=clock.sleep)

    async def go():
        times = []
        for _ in range(42):
            await limit.acquire()
            times.append(clock.now)
        return times

    times = asyncio.run(go())
    assert times[:2] == [0.0, 0.0]  # the burst: one second's worth
    assert times[2:5] == pytest.approx([0.5, 1.0, 1.5])
    assert (len(times) - 2) / times[-1] == pytest.approx(2.0)  # 120 per minute
    assert limit.waited == pytest.approx(sum(clock.sleeps))


def test_the_bucket_refills_while_nobody_asks():
    clock = FakeClock()
    limit = RateLimit(rpm=60, clock=clock, sleep=clock.sleep)

    async def go():
        await limit.acquire()
        clock.now = 30.0  # idle half a minute: the burst is back, but no more than the burst
        await limit.acquire()
        await limit.acquire()

    asyncio.run(go())
    assert clock.now == pytest.approx(31.0) and clock.sleeps == [pytest.approx(1.0)]


def test_tpm_takes_the_estimate_then_credits_back_or_charges_the_actual_usage():
    clock = FakeClock()
    limit = RateLimit(tpm=6000, clock=clock, sleep=clock.sleep)  # 100 tokens/s, a burst of 100

    async def go():
        await limit.acquire(100)
        assert clock.now == 0.0
        limit.settle(100, Usage(20, 20))  # used 40: 60 come back
        await limit.acquire(100)
        assert clock.now == pytest.approx(0.4)
        limit.settle(100, Usage(150, 150))  # used 300: 200 more are owed
        await limit.acquire(1)
        assert clock.now == pytest.approx(0.4 + 2.01)
        limit.settle(1, None)  # a failed attempt: its tokens come back
        await limit.acquire(100)
        assert clock.now == pytest.approx(0.4 + 2.01 + 0.99)

    asyncio.run(go())


def test_the_token_estimate_is_the_prompt_plus_max_tokens_and_learns_without_it():
    limit = RateLimit(tpm=100_000)
    assert limit.estimate(request(300, max_tokens=50)) == 100 + 4 + 3 + 50
    before = limit.estimate(request(300))
    for _ in range(50):
        limit.settle(before, Usage(100, 20))
    assert limit.estimate(request(300)) < before / 2
    assert RateLimit(rpm=10).estimate(request(300, max_tokens=50)) == 0  # no tpm: nothing to count


def test_a_cancelled_wait_gives_its_reservation_back():
    clock = FakeClock()
    limit = RateLimit(rpm=60, clock=clock, sleep=clock.sleep)

    async def go():
        await limit.acquire()  # the burst of one
        forever = asyncio.Event()
        limit.sleep = lambda seconds: forever.wait()
        waiting = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        limit.sleep = clock.sleep
        await limit.acquire()

    asyncio.run(go())
    assert clock.sleeps == [pytest.approx(1.0)]  # not 2: the cancelled one took nothing


# --- AdaptiveConcurrency ---

async def enter(gate, n):
    slots = [gate.slot() for _ in range(n)]
    for slot in slots:
        await slot.__aenter__()
    return slots


async def leave(slots, error=None):
    for slot in slots:
        await slot.__aexit__(type(error) if error else None, error, None)


def test_a_burst_of_429s_halves_the_limit_once():
    gate = AdaptiveConcurrency(16)

    async def go():
        await leave(await enter(gate, 16), RateLimited("slow down"))
        assert (gate.limit, gate.slots, gate.decreases) == (8.0, 8, 1)
        await leave(await enter(gate, 1), RateLimited("slow down"))  # sent after the cut: cuts again
        assert (gate.limit, gate.decreases) == (4.0, 2)
        await leave(await enter(gate, 1), ServerError("HTTP 503: overloaded"))
        await leave(await enter(gate, 1), Timeout("no answer"))
        assert (gate.limit, gate.decreases) == (1.0, 4)
        for error in (ServerError("HTTP 500: bug"), BadRequest("nope"), ServerError("HTTP 503: again")):
            await leave(await enter(gate, 1), error)
        assert (gate.limit, gate.decreases) == (1.0, 4)  # never below 1; other errors say nothing of load

    asyncio.run(go())


def test_successes_add_about_one_per_window_up_to_the_maximum():
    gate = AdaptiveConcurrency(16, start=4)

    async def go():
        successes = 0
        while gate.limit < 8:
            await leave(await enter(gate, 1))
            successes += 1
        assert 20 <= successes <= 26  # about `limit` successes per +1 (4.5 + 5.5 + 6.5 + 7.5): one per round trip
        await leave(await enter(gate, 1), RateLimited())  # a slot entered before the cut...
        for _ in range(200):
            await leave(await enter(gate, 1))
        assert gate.limit == 16.0  # ...and never above the maximum

    asyncio.run(go())


def test_the_gate_holds_extra_callers_and_hands_slots_over_in_order():
    gate = AdaptiveConcurrency(3)
    release = {i: asyncio.Event() for i in range(6)}
    order = []

    async def call(i):
        async with gate.slot():
            order.append(i)
            await release[i].wait()
            if i < 3:
                raise RateLimited()

    async def go():
        tasks = [asyncio.create_task(call(i)) for i in range(6)]
        await asyncio.sleep(0.01)
        assert (gate.in_flight, len(gate.waiters), order) == (3, 3, [0, 1, 2])
        release[0].set()  # a 429: the limit drops to 1.5, one slot
        await asyncio.sleep(0.01)
        assert (gate.in_flight, gate.slots, gate.decreases, order) == (2, 1, 1, [0, 1, 2])
        release[1].set()
        release[2].set()  # 429s from the same burst: no second cut
        await asyncio.sleep(0.01)
        assert (gate.in_flight, gate.decreases, order) == (1, 1, [0, 1, 2, 3])
        release[3].set()  # a success: 1.5 + 1/1.5 gives two slots
        await asyncio.sleep(0.01)
        assert (gate.in_flight, gate.slots, order) == (2, 2, [0, 1, 2, 3, 4, 5])
        release[4].set()
        release[5].set()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert gate.in_flight == 0 and gate.max_in_flight == 3

    asyncio.run(go())


def test_a_waiter_cancelled_just_after_a_handover_does_not_keep_the_slot():
    gate = AdaptiveConcurrency(1)

    async def go():
        [first] = await enter(gate, 1)
        waiting = asyncio.create_task(gate.slot().__aenter__())
        await asyncio.sleep(0)
        await leave([first])  # the slot is handed over...
        waiting.cancel()  # ...and its taker cancelled before it ran
        await asyncio.gather(waiting, return_exceptions=True)
        assert gate.in_flight == 0
        await leave(await enter(gate, 1))

    asyncio.run(go())


def latencies(gate, clock, values):
    async def go():
        for value in values:
            [slot] = await enter(gate, 1)
            clock.now += value
            await leave([slot])
    asyncio.run(go())


def test_millisecond_jitter_never_counts_as_rising_latency():
    clock = FakeClock()
    gate = AdaptiveConcurrency(16, start=8, clock=clock)
    latencies(gate, clock, [0.0005, 0.002, 0.0001, 0.2] * 100)  # 2000x apart, all under the floor
    assert gate.decreases == 0 and gate.limit == 16


def test_rising_latency_halves_the_limit_once_per_rise():
    clock = FakeClock()
    gate = AdaptiveConcurrency(16, clock=clock)
    latencies(gate, clock, [1.0, 2.0] * 20)  # a steady mix of short and long answers is not a rise
    assert gate.decreases == 0
    latencies(gate, clock, [5.0] * 60)
    assert gate.decreases == 1 and 11 < gate.limit < 14  # cut to 8 once, then grown back by the successes since
    ignoring = AdaptiveConcurrency(16, latency_tolerance=None, clock=clock)
    latencies(ignoring, clock, [1.0] * 20 + [5.0] * 60)
    assert ignoring.decreases == 0


def test_not_adaptive_keeps_the_limit_and_still_reports():
    clock = FakeClock()
    gate = AdaptiveConcurrency(4, adaptive=False, clock=clock)

    async def go():
        a, b = await enter(gate, 2)
        clock.now = 1.0
        await leave([a], RateLimited())
        clock.now = 2.0
        await leave([b])

    asyncio.run(go())
    figures = gate.figures(waited=1.23456)
    assert (figures.configured, figures.final_limit, figures.decreases, figures.max_in_flight) == (4, 4.0, 0, 2)
    assert figures.mean_in_flight == 1.5  # 2 for a second, then 1 for a second
    assert figures.rate_limited_waits_s == 1.235


# --- whole runs ---

ONE_STAGE = SMALL_RECIPE.split("  - name: title")[0]


def crowded_server():
    """A server that answers 429 whenever more than 3 requests are in flight; it counts both."""
    state = {"in_flight": 0, "seen": [], "refused": 0}

    async def answer(body, n):
        state["in_flight"] += 1
        state["seen"].append(state["in_flight"])
        try:
            if state["in_flight"] > 3:
                state["refused"] += 1
                return json_error(429, "too many requests in flight")
            await asyncio.sleep(0.05)
            return completion("fine")
        finally:
            state["in_flight"] -= 1

    return state, answer


def storm(tmp_path, name, adaptive):
    state, answer = crowded_server()
    options = RunOptions(concurrency=16, backoff_base=0.01, backoff_max=0.1, max_attempts=200)
    with scripted_server(answer) as server:
        spec = BackendSpec(kind="openai", model="m", base_url=server["url"], adaptive=adaptive)
        result = synthloom.run(parse_recipe(ONE_STAGE), 48, tmp_path / name, backend=spec, options=options)
    summary = json.loads((tmp_path / name / "run.json").read_text())
    return result, state, summary["this_run"]["concurrency"]


def test_a_429_storm_shrinks_concurrency_instead_of_multiplying_retries(tmp_path):
    result, state, concurrency = storm(tmp_path, "aimd", adaptive=True)
    assert result.kept == 48
    assert concurrency["configured"] == 16 and concurrency["max_in_flight"] == 16  # the first burst
    assert concurrency["decreases"] >= 2 and concurrency["final_limit"] <= 5
    assert concurrency["mean_in_flight"] < 6
    later = state["seen"][len(state["seen"]) // 3:]
    assert max(later) <= 5  # once cut, the server no longer sees the crowd
    assert state["refused"] < 48

    _, flat_state, flat = storm(tmp_path, "flat", adaptive=False)
    assert flat["decreases"] == 0 and flat["final_limit"] == 16
    assert flat_state["refused"] > 3 * state["refused"]


def test_a_retry_gives_its_slot_back_while_it_backs_off(tmp_path):
    class Watched(FakeBackend):
        async def complete(self, request):
            self.in_flight.append(runner.caller.gates[DEFAULT].in_flight)
            return await super().complete(request)

    backend = Watched(latency=0.001)
    backend.in_flight = []
    backend.enqueue(*[RateLimited("slow down", retry_after=0.3)] * 2)  # two of the first four calls: 4 slots -> 2
    pipeline = build_pipeline(parse_recipe(ONE_STAGE), default_registry())
    runner = Runner(pipeline, Caller({DEFAULT: backend}, Store.open_dir(tmp_path), RunOptions(concurrency=4)))
    asyncio.run(runner.run(range(12)))
    assert runner.stats.kept == 12 and runner.stats.concurrency[DEFAULT].decreases == 1
    retried = sorted(map(repr, backend.requests[-2:]))
    assert sorted(map(repr, backend.requests[:4])) != retried and set(retried) <= set(map(repr, backend.requests[:4]))
    assert max(backend.in_flight[4:-2]) <= 2  # the two workers backing off hold no slot meanwhile


class Clocked(FakeBackend):
    async def complete(self, request):
        self.times.append(time.monotonic())
        return await super().complete(request)


def test_rpm_holds_a_fake_backend_near_the_limit(tmp_path):
    backend = Clocked(latency=0.01)
    backend.times = []
    pipeline = build_pipeline(parse_recipe(SMALL_RECIPE), default_registry())
    runner = Runner(pipeline, Caller({DEFAULT: backend}, Store.open_dir(tmp_path), RunOptions(concurrency=8),
                                      limits={DEFAULT: LimitSettings(rpm=1200)}))
    asyncio.run(runner.run(range(25)))
    times = backend.times
    assert runner.stats.kept == 25 and len(times) == 50
    burst = 20  # one second's worth of 20 per second
    paced = (len(times) - burst - 1) / (times[-1] - times[burst])
    assert 15 < paced <= 21
    assert times[-1] - times[0] >= 1.4
    assert runner.stats.concurrency[DEFAULT].rate_limited_waits_s > 1


def test_cli_rpm_paces_the_default_backend_and_the_summary_says_so(write_recipe, tmp_path, capsys):
    assert main(["run", str(write_recipe()), "-n", "10", "--out", str(tmp_path / "o"), "--dry-run",
                 "--quiet", "--rpm", "600"]) == 0
    summary = json.loads((tmp_path / "o" / "run.json").read_text())
    assert summary["this_run"]["seconds"] >= 0.9  # 20 requests at 10 per second, 10 of them at once
    assert summary["this_run"]["concurrency"]["rate_limited_waits_s"] > 0.5
    assert "for rpm/tpm" in capsys.readouterr().out
    assert main(["run", str(write_recipe()), "-n", "1", "--out", str(tmp_path / "p"), "--dry-run", "--rpm", "0"]) == 2
    assert "--rpm and --tpm must be at least 1" in capsys.readouterr().err


def test_cli_no_adaptive_turns_the_gate_off(write_recipe, tmp_path, capsys):
    def answer(body, n):
        return json_error(429, "slow down") if n <= 4 else completion("ok")

    concurrency = {}
    for name, extra in (("aimd", []), ("flat", ["--no-adaptive"])):
        with scripted_server(answer) as server:
            assert main(["run", str(write_recipe(ONE_STAGE)), "-n", "4", "--out", str(tmp_path / name), "--backend",
                         "openai", "--model", "m", "--base-url", server["url"], "--quiet", "--concurrency", "4", *extra]) == 0
        concurrency[name] = json.loads((tmp_path / name / "run.json").read_text())["this_run"]["concurrency"]
        concurrency[name + "_line"] = capsys.readouterr().out
    assert concurrency["aimd"]["decreases"] == 1 and concurrency["aimd"]["final_limit"] < 4  # one burst, one cut
    assert "limit cut 1 time, to" in concurrency["aimd_line"]
    assert concurrency["flat"]["decreases"] == 0 and concurrency["flat"]["final_limit"] == 4
    assert "limit cut" not in concurrency["flat_line"]


NAMED = """\
name: two
entities: {topics: [rain, snow, hail]}
slots: {topic: topics}
backend: {kind: fake}
backends:
  big: {kind: fake, rpm: 600}
stages:
  - name: a
    prompt: "Say {{ topic }}"
  - name: b
    prompt: "Again: {{ a }}"
    params: {backend: big}
"""


def test_named_backends_get_their_own_limits(write_recipe, tmp_path):
    assert main(["run", str(write_recipe(NAMED)), "-n", "14", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    concurrency = json.loads((tmp_path / "o" / "run.json").read_text())["this_run"]["concurrency"]
    assert concurrency["rate_limited_waits_s"] == 0  # the default backend has no rpm
    assert concurrency["backends"]["big"]["rate_limited_waits_s"] == pytest.approx(0.1 + 0.2 + 0.3 + 0.4, abs=0.1)


@pytest.mark.parametrize("field, value", [("rpm", 0), ("tpm", -5), ("latency_tolerance", 0.5), ("adaptive", "sometimes")])
def test_limit_fields_are_validated(write_recipe, field, value, capsys):
    recipe = write_recipe(ONE_STAGE + f"backend: {{kind: fake, {field}: {value}}}\n")
    assert main(["validate", str(recipe)]) == 2
    assert f"backend.{field}" in capsys.readouterr().err


def test_limits_of_a_named_backend_do_not_change_the_recipe_fingerprint(write_recipe, tmp_path, capsys):
    from synthloom.cli import main
    from tests.conftest import SMALL_RECIPE

    base = SMALL_RECIPE + "backends:\n  judge: {kind: fake, rpm: 600, timeout: 30}\n"
    out = tmp_path / "o"
    assert main(["run", str(write_recipe(base)), "-n", "4", "--out", str(out), "--dry-run", "--quiet"]) == 0
    changed = base.replace("rpm: 600, timeout: 30", "rpm: 60, tpm: 5000, adaptive: false")
    assert main(["run", str(write_recipe(changed)), "-n", "4", "--out", str(out), "--dry-run", "--quiet"]) == 0
    assert "recipe changed" not in capsys.readouterr().err
