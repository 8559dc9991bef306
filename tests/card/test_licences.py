"""The generator terms table and the warnings `validate` and `run` print from it."""

import datetime
import re

import pytest

from synthloom.card.licences import terms_for, terms_table
from synthloom.cli import main

RECIPE = """\
name: terms
entities:
  topics: [tea, rain]
slots:
  topic: topics
backend: {kind: openai, model: MODEL, base_url: "http://127.0.0.1:9/v1"}
stages:
  - name: text
    prompt: "Write about {{ topic }}."
"""


def test_every_entry_has_a_source_a_date_and_a_known_verdict():
    ids = [t.id for t in terms_table()]
    assert len(ids) == len(set(ids)) >= 20
    for terms in terms_table():
        assert terms.outputs in ("allowed", "conditional", "restricted", "unknown"), terms.id
        assert terms.source and terms.terms and terms.licence and terms.match, terms.id
        assert terms.id == "fake" or terms.source.startswith("https://"), terms.id
        assert datetime.date.fromisoformat(terms.checked) <= datetime.date.today()
        for pattern in terms.match:
            re.compile(pattern)


@pytest.mark.parametrize("model, family, outputs", [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm", "allowed"),
    ("/models/HuggingFaceTB/SmolLM2-1.7B-Instruct-Q8_0.gguf", "smollm", "allowed"),
    ("Llama-2-7b-chat-hf", "llama-2", "restricted"),
    ("Meta-Llama-3-8B-Instruct", "llama-3", "restricted"),
    ("llama3.1:8b", "llama-3.x", "conditional"),
    ("meta-llama/Llama-3.3-70B-Instruct", "llama-3.x", "conditional"),
    ("gemma-3-4b-it", "gemma", "conditional"),
    ("gemma-4-e4b-it", "gemma-4", "allowed"),
    ("Qwen2.5-3B-Instruct", "qwen-research", "restricted"),
    ("Qwen2.5-32B-Instruct", "qwen-apache", "allowed"),
    ("Qwen2.5-72B-Instruct", "qwen-license", "conditional"),
    ("Qwen3-8B", "qwen-apache", "allowed"),
    ("DeepSeek-R1-Distill-Llama-8B", "deepseek-r1-distill-llama", "conditional"),
    ("gpt-4o-mini", "openai-api", "restricted"),
    ("gpt-oss-20b", "gpt-oss", "allowed"),
    ("claude-sonnet-4-5", "anthropic-api", "restricted"),
    ("gemini-2.5-flash", "gemini-api", "restricted"),
    ("phi-4", "phi", "allowed"),
    ("Mistral-7B-Instruct-v0.3", "mistral-apache", "allowed"),
    ("my-own-finetune", "unknown", "unknown"),
])
def test_models_are_matched_by_name(model, family, outputs):
    terms = terms_for(model)
    assert (terms.id, terms.outputs) == (family, outputs)


def warnings(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("synthloom: warning: generator terms:")]


def test_validate_warns_about_a_restricted_model(write_recipe, capsys):
    assert main(["validate", str(write_recipe(RECIPE.replace("MODEL", "Llama-2-13b-chat")))]) == 0
    (line,) = warnings(capsys)
    assert "backend: model 'Llama-2-13b-chat' (Llama 2 Community License): outputs restricted" in line
    assert "to improve any other large language model" in line and "checked 2026-" in line


def test_validate_warns_about_an_unknown_model(write_recipe, capsys):
    assert main(["validate", str(write_recipe(RECIPE.replace("MODEL", "acme-writer-9b")))]) == 0
    (line,) = warnings(capsys)
    assert "model 'acme-writer-9b': its licence terms are not in synthloom's table" in line


def test_a_permissive_model_and_the_embedded_default_are_clean(write_recipe, capsys):
    assert main(["validate", str(write_recipe(RECIPE.replace("MODEL", "Qwen3-8B")))]) == 0
    assert warnings(capsys) == []
    embedded = RECIPE.replace('backend: {kind: openai, model: MODEL, base_url: "http://127.0.0.1:9/v1"}\n', "")
    assert main(["validate", str(write_recipe(embedded))]) == 0
    assert warnings(capsys) == []


def test_run_warns_for_the_command_line_model_and_named_backends(write_recipe, tmp_path, capsys):
    """--model on the command line is the one checked; a named backend (a judge) is checked too; before any request."""
    recipe = RECIPE.replace("MODEL", "Qwen3-8B") + "backends:\n  judge: {kind: openai, model: gpt-4o, base_url: \"http://127.0.0.1:9/v1\"}\n"
    code = main(["run", str(write_recipe(recipe)), "-n", "1", "--model", "gemma-2-9b-it", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2  # nothing listens at port 9: the warnings came first
    lines = warnings(capsys)
    assert [line.split(": model ")[0].rsplit(": ", 1)[-1] for line in lines] == ["backend", "backends.judge"]
    assert "'gemma-2-9b-it' (Gemma Terms of Use): outputs conditional" in lines[0]
    assert "compete with OpenAI" in lines[1]


def test_a_dry_run_warns_about_nothing(write_recipe, tmp_path, capsys):
    code = main(["run", str(write_recipe(RECIPE.replace("MODEL", "Llama-2-7b"))), "-n", "2", "--dry-run", "--quiet",
                 "--out", str(tmp_path / "o")])
    assert code == 0 and warnings(capsys) == []
