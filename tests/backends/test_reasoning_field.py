"""A reasoning trace reaches later stages and the dataset as the field `<stage>_reasoning`."""

import json

from tests.conftest import run_cli
from tests.providers.openai_standin import openai_standin
from tests.providers.serve import KEY

RECIPE = """\
name: think
seed: 3
entities:
  topics: [tides, volcanoes]
slots:
  topic: topics
stages:
  - name: answer
    prompt: "Explain {{ topic }} in one sentence."
    params: {max_tokens: 30, extra: {reasoning_effort: low}}
  - name: check
    prompt: "Is this reasoning sound? {{ answer_reasoning }}"
    params: {max_tokens: 40}
"""


def test_reasoning_is_a_field_of_the_record_and_of_the_sft_export(write_recipe, tmp_path):
    recipe = write_recipe(RECIPE)
    with openai_standin() as server:
        result = run_cli("run", recipe, "-n", 2, "--backend", "openai", "--model", "gpt-4o-mini", "--base-url",
                         server.base_url, "--quiet", "--out", tmp_path / "o", env={"OPENAI_API_KEY": KEY})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines()]
    assert rows[0]["answer_reasoning"].startswith("First I read the request: Explain")
    assert "check_reasoning" not in rows[0]  # that call had no reasoning
    assert rows[0]["answer_reasoning"] in rows[0]["check"]  # the later stage's prompt quoted it
    exported = tmp_path / "sft.jsonl"
    assert run_cli("export", tmp_path / "o", "--format", "sft", "--response-field", "answer", "--to", exported).returncode == 0
    turn = json.loads(exported.read_text().splitlines()[0])["messages"][-1]
    assert turn["role"] == "assistant" and turn["thinking"] == rows[0]["answer_reasoning"]
