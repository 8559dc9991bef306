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
