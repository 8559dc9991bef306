"""The embedded backend with the real SmolLM2-135M model (a few short generations)."""

import asyncio
import json

import pytest

from synthloom.backends.base import ContextTooLong, Request
from synthloom.backends.embedded import SMOLLM2_FILE, EmbeddedBackend
from tests.backends.real_models import TINY_RECIPE
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_cli_run_on_embedded_model(write_recipe, tmp_path):
    recipe, out = write_recipe(TINY_RECIPE), tmp_path / "o"
    result = run_cli("run", recipe, "-n", "2", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert len(row["line"].split()) >= 3 and row["title"].strip()
    calls = [json.loads(line)["calls"] for line in (out / "lineage.jsonl").read_text().splitlines()]
    assert calls[0][0]["model"] == SMOLLM2_FILE
    assert 0 < calls[0][0]["usage"]["completion_tokens"] <= 24
    assert calls[0][1]["stage"] == "title" and calls[0][1]["usage"]["prompt_tokens"] > 10

    again = run_cli("run", recipe, "-n", "2", "--out", out, "--quiet")
    assert again.returncode == 0
    assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 0


def test_same_seed_same_text_other_seed_other_text():
    async def go():
        backend = EmbeddedBackend()
        await backend.start()
        try:
            messages = ({"role": "user", "content": "Write a sentence about a red kite."},)
            make = lambda seed: Request(messages, temperature=1.0, max_tokens=20, seed=seed)  # noqa: E731
            first = await backend.complete(make(1))
            await backend.complete(make(2))
            again = await backend.complete(make(1))
            other = await backend.complete(make(99))
            return first, again, other
        finally:
            await backend.close()

    first, again, other = asyncio.run(go())
    assert first.text and first.text == again.text
    assert other.text != first.text
    assert first.usage.completion_tokens > 0


def test_prompt_longer_than_context_is_a_typed_error():
    async def go():
        backend = EmbeddedBackend(n_ctx=64)
        await backend.start()
        try:
            await backend.complete(Request(({"role": "user", "content": "word " * 200},), max_tokens=8))
        finally:
            await backend.close()

    with pytest.raises(ContextTooLong):
        asyncio.run(go())


def test_conversation_on_embedded_model(tmp_path):
    recipe = tmp_path / "conv.yaml"
    text = open("recipes/conversation.yaml").read().replace("turns: 6\n    min_turns: 4", "turns: 3\n    min_turns: 2")
    recipe.write_text(text.replace("max_tokens: 120", "max_tokens: 30"))
    result = run_cli("run", recipe, "-n", "1", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    row = json.loads((tmp_path / "o" / "dataset.jsonl").read_text())
    roles = [m["role"] for m in row["messages"]]
    assert roles[:2] == ["user", "assistant"] and 2 <= len(roles) <= 3
    assert all(len(m["content"].split()) >= 2 for m in row["messages"])


def test_structured_output_on_embedded_is_always_schema_valid(tmp_path):
    import jsonschema
    import yaml

    recipe = yaml.safe_load(open("recipes/structured.yaml"))
    result = run_cli("run", "recipes/structured.yaml", "-n", "5", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "o" / "run.json").read_text())
    assert summary["kept"] == 5 and summary["this_run"]["requests_sent"] == 5, "a reply needed a repair"
    engine = summary["backend"]["engine"]  # the batch engine's own account: 5 records were decoded together
    assert engine["parallel"] == 8 and engine["prompt_steps"] == 5 and engine["mean_sequences_per_step"] > 1.5
    assert engine["generation_tokens_per_s"] > 0 and engine["seconds_generating"] > 0
    for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines():
        jsonschema.validate(json.loads(line)["quiz"], recipe["stages"][0]["schema"])


def test_hierarchical_recipe_on_embedded(tmp_path):
    result = run_cli("run", "recipes/tinystories_hierarchical.yaml", "-n", "1", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    row = json.loads((tmp_path / "o" / "dataset.jsonl").read_text())
    assert set(row["plan"]) == {"summary", "sentence"} and len(row["story"].split()) > 20
    calls = json.loads((tmp_path / "o" / "lineage.jsonl").read_text())["calls"]
    assert [c["stage"] for c in calls] == ["plan", "story"]


def test_backtranslation_judge_on_embedded_scores_every_record(tmp_path):
    result = run_cli("run", "recipes/backtranslation.yaml", "-n", "2", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    kept = [json.loads(line) for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (tmp_path / "o" / "rejected.jsonl").read_text().splitlines()]
    assert len(kept) + len(rejected) == 2
    assert all(1 <= r["score"] <= 5 and r["instruction"] for r in kept)
    assert all(r["reason"] == "low_score" for r in rejected), "the JSON-schema follow-up must always yield a score"


def test_topic_tree_on_embedded(tmp_path):
    result = run_cli("run", "recipes/topic_tree.yaml", "-n", "2", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 0, result.stderr
    tree = json.loads((tmp_path / "o" / "topic_tree.json").read_text())
    assert tree["topic"] == "Philosophy" and len(tree["children"]) >= 2
    names = [c["topic"] for c in tree["children"]]
    assert all(0 < len(name.split()) <= 10 and not name.lower().startswith("here") for name in names), names
    rows = [json.loads(line) for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["topic"].startswith("Philosophy > ") for r in rows)


def test_estimate_counts_prompt_tokens_exactly_on_embedded(write_recipe, tmp_path):
    """llama.cpp's chat template and tokenizer count a one-stage recipe's prompts to the token."""
    recipe = write_recipe(TINY_RECIPE.split("  - name: title")[0])
    estimated = run_cli("estimate", recipe, "-n", "3", "--json")
    assert estimated.returncode == 0, estimated.stderr
    e = json.loads(estimated.stdout)
    assert e["counting"] == "exact (the model's chat template and tokenizer)"
    ran = run_cli("run", recipe, "-n", "3", "--out", tmp_path / "o", "--quiet")
    assert ran.returncode == 0, ran.stderr
    actual = json.loads((tmp_path / "o" / "run.json").read_text())["cost"]
    assert e["prompt_tokens"] == actual["paid"]["prompt_tokens"] > 0
