"""Several base URLs behind one openai backend: load balancing by outstanding requests, failover."""

import asyncio
import json
import socket

import pytest
from aiohttp import web

from synthloom.api import run as run_api
from synthloom.backends.base import RateLimited, Request, ServerError, Unreachable
from synthloom.backends.fleet import Fleet
from synthloom.backends.openai import OpenAIBackend
from synthloom.cli import main
from synthloom.errors import ConfigError
from synthloom.recipe.model import BackendSpec
from synthloom.runner import RunOptions
from tests.backends.scripted_server import completion, json_error, scripted_server
from tests.conftest import SMALL_RECIPE

ONE_STAGE = SMALL_RECIPE.split("  - name: title")[0]
REQUEST = Request(({"role": "user", "content": "hi"},), max_tokens=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def delayed(seconds: float, text: str = "ok"):
    async def answer(body, n):
        await asyncio.sleep(seconds)
        return completion(text)
    return answer


def run_cli(recipe, out, *extra):
    return main(["run", str(recipe), "-n", str(extra[0]), "--out", str(out), "--backend", "openai", "--model", "m",
                 "--quiet", *extra[1:]])


def summary(out):
    return json.loads((out / "run.json").read_text())


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- choosing an endpoint (no network) ---

def test_ties_go_round_robin_and_the_least_loaded_wins():
    fleet = Fleet(["http://a/v1", "http://b/v1", "http://c/v1"])
    assert {fleet.pick().url for _ in range(3)} == {"http://a/v1", "http://b/v1", "http://c/v1"}
    a, b, c = fleet.endpoints
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    assert all(fleet.pick() is b for _ in range(5))


def test_cooldown_doubles_to_the_cap_one_probe_at_a_time_and_resets_on_an_answer():
    clock = FakeClock()
    fleet = Fleet(["http://a/v1", "http://b/v1"], cooldown=1.0, max_cooldown=4.0, clock=clock)
    a, b = fleet.endpoints
    sent = a.epoch
    fleet.failed(a, sent)
    fleet.failed(a, sent)  # another request that was in flight when it died: counts once
    assert a.down and a.down_until == 1.0 and a.failures == 2
    assert all(fleet.pick() is b for _ in range(6))
    for now, cooldown in ((1.0, 2.0), (3.0, 4.0), (7.0, 4.0)):  # doubling, capped at 4 s
        clock.now = now
        probe = next(e for e in (fleet.pick() for _ in range(2)) if e is a)  # the next request or the one after
        assert all(fleet.pick() is b for _ in range(4))  # one probe per cooldown
        fleet.failed(a, probe.epoch)
        assert a.cooldown == cooldown and a.down_until == now + cooldown
    clock.now = 11.0
    probe = next(e for e in (fleet.pick() for _ in range(2)) if e is a)
    fleet.answered(a, probe.epoch)
    assert not a.down and a.cooldown == 1.0
    assert {fleet.pick().url for _ in range(2)} == {"http://a/v1", "http://b/v1"}


def test_all_down_still_sends_one_attempt_to_the_one_back_soonest():
    clock = FakeClock()
    fleet = Fleet(["http://a/v1", "http://b/v1"], clock=clock)
    a, b = fleet.endpoints
    fleet.failed(a, a.epoch)
    clock.now = 0.5
    fleet.failed(b, b.epoch)
    assert fleet.pick() is a  # the runner's retry gets a real answer, as with one server
    assert fleet.pick([a]) is None  # no other live one: the error goes to the runner


def test_base_url_list_and_commas_are_one_string_and_stats_hide_credentials():
    assert BackendSpec(base_url=["http://a/v1", " http://b/v1"]).base_url == "http://a/v1,http://b/v1"
    assert BackendSpec(base_url="http://a/v1, http://b/v1,").base_url == "http://a/v1,http://b/v1"
    assert BackendSpec(base_url="http://a/v1").base_url == "http://a/v1"
    with pytest.raises(ValueError):
        BackendSpec(base_url=[])
    backend = OpenAIBackend.from_spec(BackendSpec(kind="openai", model="m",
                                                  base_url="http://u:secret@a/v1?key=secret, http://b/v1"))
    assert [s["url"] for s in backend.endpoint_stats()] == ["http://a/v1", "http://b/v1"]
    assert "secret" not in repr(backend)


# --- against scripted servers ---

def test_load_spreads_by_outstanding_requests_and_a_slow_server_gets_fewer(write_recipe, tmp_path):
    with (scripted_server(delayed(0.005)) as a, scripted_server(delayed(0.005)) as b,
          scripted_server(delayed(0.1)) as slow):
        urls = ", ".join(s["url"] for s in (a, slow, b))
        recipe = write_recipe(ONE_STAGE + f"backend: {{kind: openai, base_url: [{urls}]}}\n")
        assert run_cli(recipe, tmp_path / "o", 90, "--concurrency", "6") == 0
    counts = [len(a["calls"]), len(b["calls"]), len(slow["calls"])]
    assert sum(counts) == 90 and summary(tmp_path / "o")["kept"] == 90
    assert counts[2] >= 1 and counts[2] < min(counts[:2]) / 2, counts  # round robin would give 30 each
    assert abs(counts[0] - counts[1]) <= 0.3 * max(counts[:2]), counts


def test_equal_servers_share_evenly(write_recipe, tmp_path):
    with scripted_server(delayed(0.01)) as a, scripted_server(delayed(0.01)) as b, scripted_server(delayed(0.01)) as c:
        urls = ",".join(s["url"] for s in (a, b, c))
        assert run_cli(write_recipe(ONE_STAGE), tmp_path / "o", 60, "--base-url", urls, "--concurrency", "6") == 0
    counts = [len(s["calls"]) for s in (a, b, c)]
    assert sum(counts) == 60 and all(12 <= count <= 28 for count in counts), counts


def test_a_dead_endpoint_from_the_start_costs_no_retries(write_recipe, tmp_path, capsys):
    dead = closed_port_url()
    recipe = write_recipe(ONE_STAGE + "backend: {kind: openai, options: {cooldown: 0.02}}\n")  # probed during the run
    with scripted_server(delayed(0.01)) as a, scripted_server(delayed(0.01)) as b:
        urls = f"{a['url']},{dead},{b['url']}"
        assert run_cli(recipe, tmp_path / "o", 40, "--base-url", urls, "--concurrency", "4") == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line and "generator terms" not in line]
    assert len(err) == 1 and dead in err[0] and "1 of 3 servers" in err[0]
    figures = summary(tmp_path / "o")
    assert figures["kept"] == 40 and figures["rejected"] == 0
    assert figures["this_run"]["requests_sent"] == 40 and figures["this_run"]["retries"] == 0
    assert len(a["calls"]) + len(b["calls"]) == 40
    assert read(tmp_path / "o" / "rejected.jsonl") == []


def test_dead_endpoint_probes_fail_over_inside_the_backend(write_recipe, tmp_path):
    """The same through the Python API, to see the probes the dead endpoint got."""
    dead = closed_port_url()
    with scripted_server(delayed(0.01)) as a, scripted_server(delayed(0.01)) as b:
        backend = OpenAIBackend("m", [dead, a["url"], b["url"]], cooldown=0.01)
        result = run_api(write_recipe(ONE_STAGE), 40, tmp_path / "o", backend=backend,
                         options=RunOptions(concurrency=4))
    stats = {s["url"]: s for s in backend.endpoint_stats()}
    assert result.kept == 40 and result.stats.requests == 40 and result.stats.retries == 0
    assert stats[dead]["requests"] >= 1 and stats[dead]["failures"] == stats[dead]["requests"] + 1  # + the start check
    assert stats[dead]["down"] and not stats[a["url"]]["down"]
    assert stats[a["url"]]["requests"] + stats[b["url"]]["requests"] == 40


def test_an_endpoint_killed_mid_run_fails_over(write_recipe, tmp_path):
    servers: dict = {}

    async def dies_at_its_fifth_call(body, n):
        if n == 5:
            servers["b"]["kill"]()  # drops this request and the others in flight on it
        await asyncio.sleep(0.02)
        return completion("from b")

    with scripted_server(delayed(0.02, "from a")) as a, scripted_server(dies_at_its_fifth_call) as b:
        servers["b"] = b
        backend = OpenAIBackend("m", [a["url"], b["url"]])
        result = run_api(write_recipe(ONE_STAGE), 40, tmp_path / "o", backend=backend,
                         options=RunOptions(concurrency=6))
        assert b["dead"]
    stats = {s["url"]: s for s in backend.endpoint_stats()}
    assert result.kept == 40 and result.stats.retries == 0 and result.stats.requests == 40
    assert stats[b["url"]]["down"] and stats[b["url"]]["failures"] >= 1
    texts = [r["story"] for r in read(tmp_path / "o" / "dataset.jsonl")]
    assert len(texts) == 40 and texts.count("from b") <= 4 and len(b["calls"]) >= 5


def test_all_endpoints_down_at_start_is_one_line_and_exit_2(write_recipe, tmp_path, capsys):
    first, second = closed_port_url(), closed_port_url()
    assert run_cli(write_recipe(ONE_STAGE), tmp_path / "o", 4, "--base-url", f"{first},{second}") == 2
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if "warning: generator terms:" not in line)
    assert len(err.splitlines()) == 1 and first in err and second in err and "cannot reach any" in err


def test_all_endpoints_down_mid_run_is_the_typed_error():
    async def go(a, b):
        backend = OpenAIBackend("m", [a["url"], b["url"]])
        await backend.start()
        try:
            assert (await backend.complete(REQUEST)).text == "ok"
            a["kill"](), b["kill"]()
            with pytest.raises((Unreachable, ServerError)) as caught:
                await backend.complete(REQUEST)
            assert caught.value.retryable and "2 of 2 servers tried" in str(caught.value)
            assert all(s["down"] for s in backend.endpoint_stats())
            with pytest.raises(Unreachable):  # all down: one attempt, to the one back soonest, then the runner's backoff
                await backend.complete(REQUEST)
        finally:
            await backend.close()
        return backend.endpoint_stats()

    with scripted_server(delayed(0)) as a, scripted_server(delayed(0)) as b:
        stats = asyncio.run(go(a, b))
    assert sum(s["requests"] for s in stats) == 1 + 2 + 1


def test_no_server_answering_the_check_is_a_config_error():
    async def go():
        backend = OpenAIBackend("m", [closed_port_url(), closed_port_url()])
        with pytest.raises(ConfigError, match="cannot reach any of the 2 servers"):
            await backend.start()

    asyncio.run(go())


def test_5xx_marks_an_endpoint_down_and_the_request_goes_to_another():
    async def go(broken, good):
        backend = OpenAIBackend("m", [broken["url"], good["url"]])
        await backend.start()
        try:
            texts = [(await backend.complete(REQUEST)).text for _ in range(6)]
        finally:
            await backend.close()
        return texts, {s["url"]: s for s in backend.endpoint_stats()}

    with scripted_server(lambda body, n: json_error(500, "engine dead")) as broken, \
            scripted_server(lambda body, n: completion("fine")) as good:
        texts, stats = asyncio.run(go(broken, good))
    assert texts == ["fine"] * 6
    assert len(broken["calls"]) == 1 and stats[broken["url"]]["down"] and len(good["calls"]) == 6


def test_429_is_not_down_and_is_not_failed_over():
    async def go(a, b):
        backend = OpenAIBackend("m", [a["url"], b["url"]])
        await backend.start()
        try:
            with pytest.raises(RateLimited):
                await backend.complete(REQUEST)
        finally:
            await backend.close()
        return backend.endpoint_stats()

    busy = lambda body, n: json_error(429, "slow down", {"Retry-After": "1"})  # noqa: E731
    with scripted_server(busy) as a, scripted_server(busy) as b:
        stats = asyncio.run(go(a, b))
    assert len(a["calls"]) + len(b["calls"]) == 1 and not any(s["down"] for s in stats)


def test_a_recovered_endpoint_gets_traffic_again_after_its_cooldown(capsys):
    later = closed_port_url()
    clock = FakeClock()

    async def send(backend, count):
        return [(await backend.complete(REQUEST)).text for _ in range(count)]

    async def go(a):
        backend = OpenAIBackend("m", [later, a["url"]], cooldown=2.0)
        backend.fleet.clock = clock
        await backend.start()
        try:
            assert await send(backend, 4) == ["a"] * 4
            with scripted_server(lambda body, n: completion("back"), port=port_of(later)):
                clock.now = 1.9
                assert await send(backend, 4) == ["a"] * 4  # still cooling down
                clock.now = 2.1
                after = await send(backend, 6)
            return after, backend.endpoint_stats()
        finally:
            await backend.close()

    with scripted_server(lambda body, n: completion("a")) as a:
        after, stats = asyncio.run(go(a))
    assert "did not answer" in capsys.readouterr().err
    assert after.count("back") >= 2 and not stats[0]["down"]


def test_tokenize_goes_to_the_first_live_endpoint(write_recipe, tmp_path):
    """No `usage` in the answers: tokens come from the live server's tokenizer, not the dead first one."""
    def answer(body, n):
        if body.get("max_tokens") == 1:  # the chat template probe: 7 tokens billed for "hi"
            return web.json_response({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}],
                                      "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
        return web.json_response({"choices": [{"message": {"content": "a b c d e f"}, "finish_reason": "stop"}]})

    tokenize = {"/extras/tokenize": lambda body: web.json_response({"tokens": body["input"].split()})}
    with scripted_server(answer, tokenize) as live:
        code = run_cli(write_recipe(ONE_STAGE), tmp_path / "o", 4, "--base-url", f"{closed_port_url()},{live['url']}")
    assert code == 0
    calls = [c for r in read(tmp_path / "o" / "lineage.jsonl") for c in r["calls"]]
    assert [c["usage"]["completion_tokens"] for c in calls] == [6] * 4  # 11 characters: about 3 by the rule of thumb


def test_run_json_lists_the_endpoints_without_credentials(write_recipe, tmp_path):
    from synthloom.cli import main
    from tests.backends.scripted_server import completion, scripted_server
    from tests.conftest import SMALL_RECIPE

    recipe = write_recipe(SMALL_RECIPE.split("  - name: title")[0])
    with scripted_server(lambda body, n: completion(f"s {n}")) as a, scripted_server(lambda body, n: completion(f"t {n}")) as b:
        secret = b["url"].replace("http://", "http://user:hunter2@") + "?key=sk-secret"
        assert main(["run", str(recipe), "-n", "6", "--out", str(tmp_path / "o"), "--backend", "openai", "--model", "m",
                     "--base-url", f"{a['url']},{secret}", "--quiet"]) == 0
    text = (tmp_path / "o" / "run.json").read_text()
    assert "hunter2" not in text and "sk-secret" not in text
    backend = json.loads(text)["backend"]
    assert backend["base_url"] == f"{a['url']},{b['url']}"
    assert len(backend["endpoints"]) == 2 and sum(e["requests"] for e in backend["endpoints"]) == 6
