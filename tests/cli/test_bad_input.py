"""Every kind of bad input: one line naming file/field, exit code 2, no traceback, nothing sent."""

from __future__ import annotations

import pytest

from synthloom.cli import main
from tests.conftest import SMALL_RECIPE, run_cli

CASES = {
    "broken_yaml": ("name: x\nstages: [\n", ["invalid YAML", "recipe.yaml:"]),
    "empty": ("", ["recipe is empty"]),
    "list_at_top": ("- a\n- b\n", ["not a list"]),
    "list_where_mapping": (SMALL_RECIPE.replace("stages:\n", "stages:\n  - [a, b]\n", 1).replace("  noun: {from: nouns, sampler: coverage}", "  noun: [nouns]"), ["slots.noun", "recipe.yaml:8"]),
    "unknown_key": (SMALL_RECIPE.replace("    params: {temperature: 0.9", "    parms: {temperature: 0.9"), ["stages[0].parms", "unknown key", "did you mean 'params'"]),
    "unknown_top_key": (SMALL_RECIPE.replace("seed: 7", "sed: 7"), ["sed", "did you mean 'seed'", "recipe.yaml:2"]),
    "undefined_variable": (SMALL_RECIPE.replace("{{ story }}", "{{ stroy }}"), ["stages[1].prompt", "stroy", "did you mean 'story'", "recipe.yaml:16"]),
    "later_stage_output": (SMALL_RECIPE.replace("with {{ features", "with {{ title }} {{ features"), ["stages[0].prompt", "a later stage"]),
    "empty_entity_list": (SMALL_RECIPE.replace("verbs: [jump, sing, hide]", "verbs: []"), ["entities.verbs", "empty"]),
    "missing_entity_file": (SMALL_RECIPE.replace("verbs: [jump, sing, hide]", "verbs: {file: nowhere.txt}"), ["entities.verbs.file", "nowhere.txt", "not found"]),
    "unknown_list_in_slot": (SMALL_RECIPE.replace("verb: verbs", "verb: verbz"), ["slots.verb", "verbz", "did you mean 'verbs'"]),
    "unknown_backend": (SMALL_RECIPE + "backend: {kind: telepathy}\n", ["backend.kind", "telepathy", "known:", "recipe.yaml:18"]),
    "duplicate_key": (SMALL_RECIPE + "seed: 8\n", ["'seed' appears twice"]),
    "bad_param": (SMALL_RECIPE.replace("temperature: 0.9", "temperature: 9"), ["stages[0].params.temperature", "less than or equal to 2"]),
    "extra_wrong_type": (SMALL_RECIPE.replace("temperature: 0.9", "temperature: 0.9, extra: {top_k: lots}"), ["stages[0].params.extra", "top_k must be an integer, got 'lots'"]),
    "template_syntax": (SMALL_RECIPE.replace("{{ story }}", "{{ story "), ["stages[1].prompt", "template syntax error"]),
    "no_stages": ("name: x\nstages: []\n", ["stages", "at least 1"]),
    "unknown_stage_kind": (SMALL_RECIPE.replace("  - name: title", "  - kind: magic\n    name: title"), ["stages[1].kind", "unknown stage kind 'magic'"]),
    "k_too_large": (SMALL_RECIPE.replace("k: 2", "k: 9"), ["slots.features", "k=9"]),
    "bad_schema": (SMALL_RECIPE.replace("    params: {max_tokens: 12}", "    schema: {type: nonsense}"), ["stages[1].schema", "not a valid JSON Schema"]),
    "reserved_slot": (SMALL_RECIPE.replace("  verb: verbs", "  id: verbs"), ["slots.id", "reserved"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_recipe_is_one_line_exit_2(case, write_recipe, tmp_path, capsys):
    text, expected = CASES[case]
    path = write_recipe(text)
    dry_run = [] if case == "unknown_backend" else ["--dry-run"]
    code = main(["run", str(path), "-n", "3", "--out", str(tmp_path / "out"), "--quiet", *dry_run])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("synthloom: error: ")
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out" / "dataset.jsonl").exists()
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == err


def test_binary_file(tmp_path, capsys):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"\x00\x01GGUF\x00")
    assert main(["validate", str(path)]) == 2
    assert "binary file" in capsys.readouterr().err


def test_binary_entity_file(write_recipe, tmp_path, capsys):
    (tmp_path / "words.txt").write_bytes(b"\x00\xff\xfe")
    path = write_recipe(SMALL_RECIPE.replace("verbs: [jump, sing, hide]", "verbs: {file: words.txt}"))
    assert main(["validate", str(path)]) == 2
    assert "entities.verbs.file" in capsys.readouterr().err


def test_missing_recipe_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_unreachable_server_subprocess(write_recipe, tmp_path):
    """Through the real entry point: no traceback, exit 2, the URL and field named."""
    path = write_recipe()
    result = run_cli("run", path, "-n", "2", "--backend", "openai", "--model", "m",
                     "--base-url", "http://127.0.0.1:9/v1", "--out", tmp_path / "out", "--quiet")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot reach the server at http://127.0.0.1:9/v1 (backend.base_url)" in result.stderr
    warning, error = result.stderr.strip().splitlines()  # model 'm' is in no licence table: said before the run
    assert warning.startswith("synthloom: warning: generator terms: backend: model 'm'") and error.startswith("synthloom: error:")


def test_openai_backend_needs_model(write_recipe, tmp_path, capsys):
    code = main(["run", str(write_recipe()), "--backend", "openai", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "--model" in capsys.readouterr().err


def test_missing_gguf(write_recipe, tmp_path, capsys):
    code = main(["run", str(write_recipe()), "--backend", "embedded", "--model", str(tmp_path / "x.gguf"),
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "model file not found" in capsys.readouterr().err


def test_validate_ok_shows_prompts(write_recipe, capsys):
    assert main(["validate", str(write_recipe()), "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "ok:" in out and "small-000001" in out
    assert out.count("[user] Write about") == 2
