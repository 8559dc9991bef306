"""`synthloom run` end to end on the fake backend: outputs, resume, determinism."""

import json

import pyarrow.parquet as pq

from synthloom.cli import main
from tests.conftest import SMALL_RECIPE


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(recipe, out, *extra):
    return main(["run", str(recipe), "--out", str(out), "--dry-run", "--quiet", *extra])


def test_outputs(write_recipe, tmp_path, capsys):
    assert run(write_recipe(), tmp_path / "o", "-n", "12") == 0
    out = tmp_path / "o"
    rows = read_jsonl(out / "dataset.jsonl")
    assert [r["id"] for r in rows] == [f"small-{i:06d}" for i in range(12)]
    assert set(rows[0]) == {"id", "noun", "verb", "features", "story", "title"}
    assert isinstance(rows[0]["features"], list) and len(rows[0]["features"]) == 2
    assert rows[0]["noun"] in rows[0]["story"]
    table = pq.read_table(out / "dataset.parquet")
    assert table.num_rows == 12 and table.column("story").to_pylist() == [r["story"] for r in rows]
    assert (out / "rejected.jsonl").read_text() == ""
    lineage = read_jsonl(out / "lineage.jsonl")
    call = lineage[0]["calls"][0]
    assert call["stage"] == "story" and call["params"]["temperature"] == 0.9 and call["usage"]["completion_tokens"] > 0
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == 12 and summary["this_run"]["requests_sent"] == 24
    assert "12 kept, 0 rejected" in capsys.readouterr().out


def test_rerun_resumes_without_sending(write_recipe, tmp_path):
    recipe, out = write_recipe(), tmp_path / "o"
    run(recipe, out, "-n", "10")
    first = (out / "dataset.jsonl").read_text()
    run(recipe, out, "-n", "10")
    assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 0
    assert (out / "dataset.jsonl").read_text() == first
    run(recipe, out, "-n", "15")
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == 15 and summary["this_run"]["requests_sent"] == 10
    assert (out / "dataset.jsonl").read_text().startswith(first)


def test_same_seed_same_dataset_and_other_seed_differs(write_recipe, tmp_path):
    recipe = write_recipe()
    run(recipe, tmp_path / "a", "-n", "20", "--concurrency", "7")
    run(recipe, tmp_path / "b", "-n", "20", "--sequential")
    run(recipe, tmp_path / "c", "-n", "20", "--seed", "8")
    a, b, c = (read_jsonl(tmp_path / d / "dataset.jsonl") for d in "abc")
    assert a == b
    assert [r["noun"] for r in a] != [r["noun"] for r in c]


def test_coverage_slot_covers_list(write_recipe, tmp_path):
    run(write_recipe(), tmp_path / "o", "-n", "10")
    nouns = [r["noun"] for r in read_jsonl(tmp_path / "o" / "dataset.jsonl")]
    assert sorted(nouns[:5]) == sorted(nouns[5:]) == ["cake", "cat", "dog", "river", "tree"]


def test_changed_recipe_rebuilds_records_and_reuses_cache(write_recipe, tmp_path, capsys):
    out = tmp_path / "o"
    run(write_recipe(), out, "-n", "5")
    changed = write_recipe(SMALL_RECIPE.replace("A title for:", "Name this story:"))
    run(changed, out, "-n", "5")
    summary = json.loads((out / "run.json").read_text())
    assert summary["this_run"]["cache_hits"] == 5 and summary["this_run"]["requests_sent"] == 5
    assert all(r["title"].count("Name this story") == 1 for r in read_jsonl(out / "dataset.jsonl"))
    assert "recipe changed" in capsys.readouterr().err


def test_entity_file_relative_to_recipe(write_recipe, tmp_path):
    (tmp_path / "verbs.txt").write_text("# verbs\nrun\n\nswim\n", encoding="utf-8")
    recipe = write_recipe(SMALL_RECIPE.replace("verbs: [jump, sing, hide]", "verbs: {file: verbs.txt}"))
    run(recipe, tmp_path / "o", "-n", "8")
    verbs = {r["verb"] for r in read_jsonl(tmp_path / "o" / "dataset.jsonl")}
    assert verbs <= {"run", "swim"} and verbs
