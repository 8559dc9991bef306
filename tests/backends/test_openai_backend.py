"""The openai backend against scripted misbehaviour: each becomes a retry or a recorded failure."""

import json

from aiohttp import web

from synthloom.cli import main
from tests.backends.scripted_server import completion, json_error, scripted_server
from tests.conftest import SMALL_RECIPE

ONE_STAGE = SMALL_RECIPE.split("  - name: title")[0]


def run(recipe, out, url, *extra):
    return main(["run", str(recipe), "-n", "4", "--out", str(out), "--backend", "openai", "--model", "m",
                 "--base-url", url, "--quiet", "--concurrency", "2", *extra])


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_request_body_and_key(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test-secret-value-123456")
    recipe = write_recipe(ONE_STAGE + "backend: {kind: openai, api_key_env: MY_KEY}\n")
    with scripted_server(lambda body, n: completion(f"story {n}")) as server:
        assert run(recipe, tmp_path / "o", server["url"]) == 0
    body = server["calls"][0]["body"]
    assert body["model"] == "m" and body["temperature"] == 0.9 and body["max_tokens"] == 40
    assert isinstance(body["seed"], int) and body["messages"][0]["role"] == "user"
    assert server["calls"][0]["auth"] == "Bearer sk-test-secret-value-123456"
    for path in (tmp_path / "o").iterdir():
        if path.is_file():
            assert b"sk-test-secret" not in path.read_bytes(), path


def test_garbage_is_a_recorded_failure_not_a_crash(write_recipe, tmp_path, capsys):
    def answer(body, n):
        if "cat" in body["messages"][0]["content"]:
            return web.Response(text="<html>oops</html>", content_type="text/html")
        return completion("fine story")

    with scripted_server(answer) as server:
        code = run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"], "--max-attempts", "2")
    assert code == 0
    rejected = read(tmp_path / "o" / "rejected.jsonl")
    assert rejected and all(r["reason"] == "bad_response" and "oops" in r["detail"] for r in rejected)
    assert all(r["row"]["noun"] == "cat" for r in rejected)
    assert len(read(tmp_path / "o" / "dataset.jsonl")) == 4 - len(rejected)


def test_transient_failures_are_retried_on_the_next_run(write_recipe, tmp_path):
    recipe = write_recipe(ONE_STAGE)
    with scripted_server(lambda body, n: json_error(503, "overloaded")) as server:
        run(recipe, tmp_path / "o", server["url"], "--max-attempts", "1")
    assert len(read(tmp_path / "o" / "rejected.jsonl")) == 4
    with scripted_server(lambda body, n: completion("better now")) as server:
        assert run(recipe, tmp_path / "o", server["url"]) == 0
    assert len(read(tmp_path / "o" / "dataset.jsonl")) == 4
    assert read(tmp_path / "o" / "rejected.jsonl") == []


def test_429_with_retry_after_then_success(write_recipe, tmp_path):
    def answer(body, n):
        return json_error(429, "slow down", {"Retry-After": "0.2"}) if n <= 2 else completion("ok")

    with scripted_server(answer) as server:
        assert run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"], "--sequential") == 0
    summary = json.loads((tmp_path / "o" / "run.json").read_text())
    assert summary["kept"] == 4 and summary["this_run"]["retries"] == 2 and summary["this_run"]["seconds"] >= 0.4


def test_context_too_long_is_not_retried(write_recipe, tmp_path):
    with scripted_server(lambda body, n: json_error(400, "This model's maximum context length is 8 tokens")) as server:
        run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"])
        assert len(server["calls"]) == 4
    assert {r["reason"] for r in read(tmp_path / "o" / "rejected.jsonl")} == {"context_too_long"}


def test_wrong_key_stops_the_run_with_exit_2(write_recipe, tmp_path, capsys):
    with scripted_server(lambda body, n: json_error(401, "bad key")) as server:
        code = run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"])
    assert code == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_slow_server_hits_the_per_request_timeout(write_recipe, tmp_path):
    import asyncio

    async def answer(body, n):
        await asyncio.sleep(2)
        return completion("too late")

    with scripted_server(answer) as server:
        code = run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"], "--timeout", "0.3", "--max-attempts", "1")
    assert code == 0
    assert {r["reason"] for r in read(tmp_path / "o" / "rejected.jsonl")} == {"timeout"}


def test_credentials_in_base_url_are_not_written(write_recipe, tmp_path):
    with scripted_server(lambda body, n: completion("ok")) as server:
        url = server["url"].replace("http://", "http://user:hunter2secret@") + "?api_key=hunter2secret"
        assert run(write_recipe(ONE_STAGE), tmp_path / "o", url) in (0, 2)
    for path in (tmp_path / "o").iterdir():
        if path.is_file():
            assert b"hunter2secret" not in path.read_bytes(), path


STRUCTURED = """\
name: s
entities: {topics: [rain, snow]}
slots: {topic: topics}
stages:
  - name: quiz
    prompt: "Ask about {{ topic }}"
    schema: {type: object, properties: {q: {type: string}}, required: [q]}
    repairs: 1
"""


def test_response_format_steps_down_to_what_the_server_takes(write_recipe, tmp_path):
    def answer(body, n):
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema":
            return json_error(422, "response_format type json_schema not supported")
        return completion('{"q": "why?"}' if kind == "json_object" else "no")

    with scripted_server(answer) as server:
        assert run(write_recipe(STRUCTURED), tmp_path / "o", server["url"], "--sequential") == 0
    kinds = [(c["body"].get("response_format") or {}).get("type") for c in server["calls"]]
    assert kinds == ["json_schema", "json_object", "json_object", "json_object", "json_object"]
    assert [r["quiz"] for r in read(tmp_path / "o" / "dataset.jsonl")] == [{"q": "why?"}] * 4


def test_without_response_format_the_reply_is_validated_and_repaired(write_recipe, tmp_path):
    def answer(body, n):
        if "response_format" in body:
            return json_error(400, "unknown field response_format")
        repairing = body["messages"][-1]["content"].startswith("That reply is not valid")
        return completion('{"q": "fixed"}' if repairing else "Sure! Here is a question: why?")

    with scripted_server(answer) as server:
        assert run(write_recipe(STRUCTURED), tmp_path / "o", server["url"], "--sequential") == 0
    rows = read(tmp_path / "o" / "dataset.jsonl")
    assert [r["quiz"] for r in rows] == [{"q": "fixed"}] * 4
    assert json.loads((tmp_path / "o" / "run.json").read_text())["kept"] == 4


TWO_BACKENDS = """\
name: two
entities: {topics: [rain, snow, hail]}
slots: {topic: {from: topics, sampler: coverage}}
backends:
  big: {kind: openai, model: big-model, base_url: BIG_URL}
stages:
  - kind: preference
    name: pair
    prompt: "Explain {{ topic }}."
    candidates:
      - {temperature: 0.2}
      - {temperature: 0.9, backend: big}
    judge_params: {temperature: 0.0, backend: big}
"""


def test_named_backends_route_candidates_and_judge(write_recipe, tmp_path):
    def small(body, n):
        return completion("small answer")

    def big(body, n):
        is_judge = body["messages"][0]["content"].startswith("Rate how well")
        if not is_judge:
            return completion("big answer")
        return completion("Score: 9" if "big answer" in body["messages"][0]["content"] else "Score: 2")

    with scripted_server(small) as a, scripted_server(big) as b:
        recipe = write_recipe(TWO_BACKENDS.replace("BIG_URL", b["url"]))
        assert main(["run", str(recipe), "-n", "3", "--out", str(tmp_path / "o"), "--backend", "openai",
                     "--model", "small-model", "--base-url", a["url"], "--quiet"]) == 0
    assert {c["body"]["model"] for c in a["calls"]} == {"small-model"} and len(a["calls"]) == 3
    assert {c["body"]["model"] for c in b["calls"]} == {"big-model"} and len(b["calls"]) == 3 * 3
    rows = read(tmp_path / "o" / "dataset.jsonl")
    assert [(r["chosen"], r["rejected"]) for r in rows] == [("big answer", "small answer")] * 3
    summary = json.loads((tmp_path / "o" / "run.json").read_text())
    assert summary["backends"]["big"]["model"] == "big-model"


def test_unknown_backend_name_is_a_recipe_error(write_recipe, tmp_path, capsys):
    recipe = write_recipe(TWO_BACKENDS.replace("backend: big}\n    judge", "backend: huge}\n    judge"))
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "stages[0].candidates[1].backend" in err and "no backend named 'huge'" in err


def test_a_server_without_usage_is_counted_with_its_tokenizer(write_recipe, tmp_path):
    """No `usage` in the answers: tokens come from the server's tokenize endpoint (words here),
    with the chat template's share measured by a one-token completion."""
    def answer(body, n):
        if body.get("max_tokens") == 1:  # the template probe: a server that bills 7 tokens for "hi"
            return web.json_response({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}],
                                      "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
        return web.json_response({"choices": [{"message": {"content": f"a story of six words {n}"}, "finish_reason": "stop"}]})

    tokenize = {"/extras/tokenize": lambda body: web.json_response({"tokens": body["input"].split()})}
    with scripted_server(answer, tokenize) as server:
        assert run(write_recipe(ONE_STAGE), tmp_path / "o", server["url"]) == 0
    calls = [c for r in read(tmp_path / "o" / "lineage.jsonl") for c in r["calls"]]
    prompts = [c["body"]["messages"][0]["content"] for c in server["calls"] if c["body"].get("max_tokens") != 1]
    assert [c["usage"]["completion_tokens"] for c in calls] == [6] * 4
    assert sorted(c["usage"]["prompt_tokens"] for c in calls) == sorted(len(p.split()) + 6 for p in prompts)
