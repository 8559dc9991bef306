"""A run with a `curate:` section: per-record steps, dataset dedup at export, the files it writes."""

import json

import pytest

from synthloom import api
from synthloom.backends.fake import FakeBackend
from synthloom.cli import main
from synthloom.recipe import parse_recipe

RECIPE = """\
name: curated
seed: 5
entities:
  topics: [cats, dogs, birds, fish, frogs, bees]
slots:
  topic: {from: topics, sampler: coverage}
stages:
  - name: story
    prompt: "A story about {{ topic }}."
curate:
  - {kind: length, field: story, min_words: 5}
  - {kind: refusal, field: story}
  - {kind: dedup, method: exact, field: story}
"""

REPLIES = [
    "The cat sat on a warm mat all day long.",       # 0 kept
    "Too short.",                                     # 1 too_short
    "As an AI, I cannot write about birds today.",   # 2 refusal
    "the cat sat on a warm  mat ALL day long.",       # 3 exact duplicate of 0 (case, spaces)
    "Frogs jump into the pond on a sunny day.",       # 4 kept
    "Bees buzz from flower to flower in the garden.",  # 5 kept
]


def rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rejections_keep_step_reason_and_row_and_dedup_keeps_the_first(tmp_path):
    out = tmp_path / "out"
    result = api.run(parse_recipe(RECIPE, base_dir=tmp_path), 6, out, backend=FakeBackend(replies=REPLIES),
                     options=api.RunOptions(sequential=True))
    assert [r["story"] for r in rows(out / "dataset.jsonl")] == [REPLIES[0], REPLIES[4], REPLIES[5]]
    rejected = {r["index"]: r for r in rows(out / "rejected.jsonl")}
    assert {i: (r["stage"], r["reason"]) for i, r in rejected.items()} == {
        1: ("length", "too_short"), 2: ("refusal", "refusal"), 3: ("dedup", "duplicate_exact")}
    assert rejected[3]["row"]["story"] == REPLIES[3] and "curated-000000" in rejected[3]["detail"]
    assert (result.kept, result.rejected) == (3, 3)
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == 3 and summary["rejected"] == 3
    assert summary["curation"]["dropped"] == {"dropped_too_short": 1, "dropped_refusal": 1, "dropped_duplicate_exact": 1}
    assert summary["curation"]["dedup"]["dedup"] == {"method": "exact", "threshold": 1.0, "field": "story",
                                                     "checked": 4, "dropped": 1, "clusters": 3,
                                                     "cluster_sizes": {"1": 2, "2": 1}}
    assert summary["schema"]["text_fields"] == ["story"]
    assert summary["schema"]["slots"]["topic"] == {"list": "topics", "size": 6, "k": 1}
    assert [json.loads(line)["id"] for line in (out / "lineage.jsonl").read_text().splitlines()] == \
        ["curated-000000", "curated-000004", "curated-000005"]
    assert "kind: dedup" in (out / "recipe.yaml").read_text()
    # the same store re-exported (a resume with nothing to do) gives the same files
    again = api.run(parse_recipe(RECIPE, base_dir=tmp_path), 6, out, backend=FakeBackend())
    assert again.kept == 3 and rows(out / "dataset.jsonl")[1]["story"] == REPLIES[4]


def test_minhash_dedup_in_a_recipe(tmp_path):
    recipe = RECIPE.replace("method: exact", "method: minhash, threshold: 0.5")
    near = ["one two three four five six seven eight nine ten eleven twelve",
            "one two three four five six seven eight nine ten eleven thirteen",
            "completely different words about a dog that likes to run in parks"]
    api.run(parse_recipe(recipe, base_dir=tmp_path), 3, tmp_path / "out", backend=FakeBackend(replies=near),
            options=api.RunOptions(sequential=True))
    dropped = rows(tmp_path / "out" / "rejected.jsonl")
    assert [(r["index"], r["reason"]) for r in dropped] == [(1, "near_duplicate")]


@pytest.mark.parametrize("step,message", [
    ("{kind: length, field: story}", "curate[0]"),
    ("{kind: lenght, field: story}", "unknown stage kind 'lenght'"),
    ("{kind: length, field: stroy, min_words: 3}", "stroy"),
    ("{kind: dedup, method: minhash, field: story, options: {nonsense: 3}}", "curate[0].options"),
    # wrong types used to pass here and fail at export, after generation, with a traceback
    ("{kind: dedup, method: minhash, field: story, options: {ngram: 1.5}}", "curate[0].options.ngram"),
    ("{kind: dedup, method: minhash, field: story, options: {seed: abc}}", "curate[0].options.seed"),
    ("{kind: dedup, method: exact, field: story, options: {ignore_punctuation: 'no'}}",
     "curate[0].options.ignore_punctuation"),
    ("{kind: constraints, field: story, words: [topic], regenerate: nope}", "curate[0].regenerate"),
])
def test_bad_curate_steps_are_one_line_errors(tmp_path, capsys, step, message):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.split("curate:")[0] + f"curate:\n  - {step}\n", encoding="utf-8")
    assert main(["run", str(path), "-n", "1", "--dry-run", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
