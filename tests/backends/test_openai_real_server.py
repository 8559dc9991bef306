"""The openai backend against a real OpenAI-compatible server (llama_cpp.server + SmolLM2)."""

import json

import pytest

from tests.backends.real_models import TINY_RECIPE, llama_server
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_run_against_llama_cpp_server(write_recipe, tmp_path):
    recipe, out = write_recipe(TINY_RECIPE), tmp_path / "o"
    with llama_server() as base_url:
        result = run_cli("run", recipe, "-n", "3", "--backend", "openai", "--base-url", base_url,
                         "--model", "smollm2", "--concurrency", "2", "--out", out, "--quiet")
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
        assert len(rows) == 3 and all(len(r["line"].split()) >= 3 for r in rows)
        assert {r["animal"] for r in rows} <= {"cat", "dog", "owl", "fox"} and len({r["animal"] for r in rows}) == 3
        calls = json.loads((out / "lineage.jsonl").read_text().splitlines()[0])["calls"]
        assert calls[0]["usage"]["completion_tokens"] > 0 and calls[0]["usage"]["prompt_tokens"] > 0
        summary = json.loads((out / "run.json").read_text())
        assert summary["backend"]["kind"] == "openai" and summary["this_run"]["requests_sent"] == 6

        resumed = run_cli("run", recipe, "-n", "4", "--backend", "openai", "--base-url", base_url,
                          "--model", "smollm2", "--out", out, "--quiet")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 2


def test_structured_output_through_llama_cpp_server(tmp_path):
    import jsonschema
    import yaml

    schema = yaml.safe_load(open("recipes/structured.yaml"))["stages"][0]["schema"]
    with llama_server() as base_url:
        result = run_cli("run", "recipes/structured.yaml", "-n", "4", "--backend", "openai", "--base-url", base_url,
                         "--model", "smollm2", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 4, (tmp_path / "o" / "rejected.jsonl").read_text()
    assert json.loads((tmp_path / "o" / "run.json").read_text())["this_run"]["requests_sent"] == 4, "needed a repair"
    for row in rows:
        jsonschema.validate(row["quiz"], schema)


def test_estimate_and_budget_against_llama_cpp_server(write_recipe, tmp_path):
    """The server's own tokenizer counts the prompts (llama-cpp-python's /extras/tokenize, plus
    the chat template's tokens per message); a run stops at its budget and resumes."""
    recipe, out = write_recipe(TINY_RECIPE), tmp_path / "o"
    server = ["--backend", "openai", "--model", "smollm2"]
    with llama_server() as base_url:
        estimated = run_cli("estimate", recipe, "-n", "4", *server, "--base-url", base_url, "--json",
                            "--price-in", "1000", "--price-out", "1000")
        assert estimated.returncode == 0, estimated.stderr
        e = json.loads(estimated.stdout)
        assert e["counting"].startswith("the server's tokenizer")
        stopped = run_cli("run", recipe, "-n", "4", *server, "--base-url", base_url, "--out", out, "--quiet",
                          "--concurrency", "1", "--price-in", "1000", "--price-out", "1000", "--budget", "0.25")
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped at the budget" in stopped.stdout
        first = json.loads((out / "run.json").read_text())["cost"]
        assert first["budget"]["reached"] and first["paid"]["dollars"] <= 0.25 and first["paid"]["requests"] < 8
        finished = run_cli("run", recipe, "-n", "4", *server, "--base-url", base_url, "--out", out, "--quiet",
                           "--price-in", "1000", "--price-out", "1000", "--budget", "5")
        assert finished.returncode == 0, finished.stderr
    actual = json.loads((out / "run.json").read_text())["cost"]
    assert actual["paid"]["requests"] == 8 and actual["budget"]["reached"] is False
    # the first stage's prompts come from the templates alone: counted to within 3%
    assert e["stages"]["line"]["prompt_tokens"] == pytest.approx(actual["stages"]["line"]["prompt_tokens"], rel=0.03)
    # the title prompt quotes the line, sized at max_tokens (24) in the estimate and shorter in fact: an upper bound
    assert actual["paid"]["prompt_tokens"] <= e["prompt_tokens"] <= 1.25 * actual["paid"]["prompt_tokens"]
    assert e["completion_tokens"] >= actual["paid"]["completion_tokens"]  # max_tokens is an upper bound
