"""`synthloom export` end to end through the CLI; every output is loaded back with `datasets`."""

from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq
import pytest

from synthloom.cli import main
from synthloom.store import Store
from tests.conftest import SMALL_RECIPE

datasets = pytest.importorskip("datasets")

STRUCTURED_RECIPE = """\
name: rep
seed: 1
entities:
  nouns: [cat, owl]
slots:
  noun: nouns
stages:
  - name: info
    prompt: "Describe {{ noun }} as JSON."
    schema: {type: object, properties: {legs: {type: integer}}, required: [legs]}
backend: {kind: fake, options: {replies: ["not json", '{"legs": 4}', '{"legs": 2}']}}
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def small_run(write_recipe, tmp_path):
    """A real run directory (6 records, fake backend) and its rows."""
    out = tmp_path / "run"
    assert main(["run", str(write_recipe(SMALL_RECIPE)), "-n", "6", "--out", str(out), "--dry-run", "--quiet"]) == 0
    return out, read_jsonl(out / "dataset.jsonl")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def load(path):
    if path.suffix == ".jsonl":
        return datasets.load_dataset("json", data_files=str(path), split="train")
    if path.suffix == ".parquet":
        return datasets.load_dataset("parquet", data_files=str(path), split="train")
    return datasets.load_from_disk(str(path))


def export(run, fmt, to, *flags):
    return main(["export", str(run), "--format", fmt, "--to", str(to), *flags])


def hand_written_run(tmp_path, rows):
    """A run directory written by hand: dataset.jsonl, an empty lineage.jsonl, an empty store."""
    out = tmp_path / "hand"
    out.mkdir()
    (out / "dataset.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (out / "lineage.jsonl").write_text("")
    Store.open_dir(out).close()
    return out


@pytest.mark.parametrize("target", ["sft.jsonl", "sft.parquet", "sft_dir"])
def test_sft_messages_are_the_exact_prompt_sent_and_the_reply(small_run, tmp_path, target, capsys):
    out, rows = small_run
    assert export(out, "sft", tmp_path / target, "--response-field", "story") == 0
    assert "wrote 6 sft rows from 6 records · skipped 0" in capsys.readouterr().out
    data = load(tmp_path / target)
    assert data.column_names == ["id", "messages"] and data["id"] == [r["id"] for r in rows]
    for row, messages in zip(rows, data["messages"]):
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] == f"Write about {row['noun']} that can {row['verb']}, with {', '.join(row['features'])}."
        assert messages[1]["content"] == row["story"]


@pytest.mark.parametrize("target", ["a.jsonl", "a.parquet", "a_dir"])
def test_alpaca_instruction_is_the_prompt_sent(small_run, tmp_path, target):
    out, rows = small_run
    assert export(out, "alpaca", tmp_path / target, "--response-field", "story", "--no-id") == 0
    data = load(tmp_path / target)
    assert data.column_names == ["instruction", "input", "output"]
    assert data["output"] == [r["story"] for r in rows] and set(data["input"]) == {""}
    assert all(f"Write about {r['noun']} that can {r['verb']}" in text for r, text in zip(rows, data["instruction"]))


def test_the_prompt_is_the_one_for_the_response_field_or_the_stage_asked_for(small_run, tmp_path):
    out, rows = small_run
    export(out, "sft", tmp_path / "title.jsonl", "--response-field", "title")
    assert load(tmp_path / "title.jsonl")[0]["messages"][0]["content"] == f"A title for: {rows[0]['story']}"
    export(out, "sft", tmp_path / "staged.jsonl", "--response-field", "title", "--prompt-stage", "story")
    assert load(tmp_path / "staged.jsonl")[0]["messages"][0]["content"].startswith(f"Write about {rows[0]['noun']}")
    export(out, "sft", tmp_path / "field.jsonl", "--response-field", "title", "--prompt-field", "noun")
    assert load(tmp_path / "field.jsonl")[0]["messages"][0] == {"role": "user", "content": rows[0]["noun"]}


def test_dpo_prompt_falls_back_to_the_first_prompt_sent(small_run, tmp_path):
    out, rows = small_run
    assert export(out, "dpo", tmp_path / "d.parquet", "--chosen-field", "story", "--rejected-field", "title") == 0
    data = load(tmp_path / "d.parquet")
    assert data.column_names == ["id", "prompt", "chosen", "rejected"]
    assert data[2]["prompt"].startswith(f"Write about {rows[2]['noun']}") and data[2]["rejected"] == rows[2]["title"]


def test_filtered_and_reordered_dataset_still_finds_each_records_prompt(small_run, tmp_path):
    out, rows = small_run
    kept = [rows[4], rows[1], rows[5]]
    (out / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    export(out, "sft", tmp_path / "f.jsonl", "--response-field", "story")
    prompts = [m[0]["content"] for m in load(tmp_path / "f.jsonl")["messages"]]
    assert [p.split(" that")[0] for p in prompts] == [f"Write about {r['noun']}" for r in kept]


def test_repair_follow_ups_are_not_part_of_the_prompt(write_recipe, tmp_path):
    out = tmp_path / "rep"
    assert main(["run", str(write_recipe(STRUCTURED_RECIPE)), "-n", "2", "--out", str(out), "--sequential", "--quiet"]) == 0
    assert len(read_jsonl(out / "lineage.jsonl")[0]["calls"]) == 2
    export(out, "sft", tmp_path / "s.jsonl", "--response-field", "info")
    messages = load(tmp_path / "s.jsonl")[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"].startswith("Describe cat as JSON.") and json.loads(messages[1]["content"]) == {"legs": 4}


def test_hand_written_dpo_with_skipped_rows(tmp_path, capsys):
    out = hand_written_run(tmp_path, [
        {"id": "a", "prompt": "Explain rain.", "chosen": "Clouds.", "rejected": "Magic."},
        {"id": "b", "prompt": "Explain snow.", "chosen": "Cold clouds."},
        {"id": "c", "prompt": "Explain hail.", "chosen": "Ice.", "rejected": ""},
    ])
    assert export(out, "dpo", tmp_path / "dpo") == 0
    assert "wrote 1 dpo rows from 3 records · skipped 2 (missing 'rejected' 1, empty 'rejected' 1)" in capsys.readouterr().out
    data = load(tmp_path / "dpo")
    assert data.column_names == ["id", "prompt", "chosen", "rejected"]
    assert data[0] == {"id": "a", "prompt": "Explain rain.", "chosen": "Clouds.", "rejected": "Magic."}


@pytest.mark.parametrize("target", ["k.jsonl", "k.parquet", "k_dir"])
def test_hand_written_kto_labels_and_preference_completions(tmp_path, target, capsys):
    out = hand_written_run(tmp_path, [
        {"id": "a", "prompt": "P1", "completion": "C1", "label": "desirable"},
        {"id": "b", "prompt": "P2", "completion": "C2", "label": 0},
        {"id": "c", "prompt": "P3", "completion": "C3", "label": "perhaps"},
        {"id": "d", "prompt": "P4", "chosen": "G", "rejected": "B",
         "completions": [{"completion": "B", "label": False}, {"completion": "G", "label": True}]},
    ])
    assert export(out, "kto", tmp_path / target) == 0
    assert "wrote 4 kto rows from 4 records · skipped 1" in capsys.readouterr().out
    data = load(tmp_path / target)
    assert data.column_names == ["id", "prompt", "completion", "label"]
    assert data.features["label"].dtype == "bool"
    assert list(zip(data["id"], data["completion"], data["label"])) == [
        ("a", "C1", True), ("b", "C2", False), ("d", "B", False), ("d", "G", True)]


@pytest.mark.parametrize("target", ["g.jsonl", "g.parquet", "g_dir"])
def test_hand_written_conversations_as_sharegpt_and_sft(tmp_path, target):
    chat = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Arr!"}]
    out = hand_written_run(tmp_path, [{"id": "a", "topic": "greeting", "messages": chat},
                                      {"id": "b", "messages": [{"role": "user", "content": "alone"}]}])
    assert export(out, "sharegpt", tmp_path / target) == 0
    data = load(tmp_path / target)
    assert data.column_names == ["id", "conversations"] and data.num_rows == 1
    assert data[0]["conversations"] == [{"from": "system", "value": "You are a pirate."},
                                        {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Arr!"}]
    assert export(out, "sft", tmp_path / f"sft-{target}") == 0
    assert load(tmp_path / f"sft-{target}")[0]["messages"] == chat


def test_a_directory_export_replaces_an_earlier_one_and_leaves_no_temp_files(small_run, tmp_path):
    out, _ = small_run
    target = tmp_path / "exports" / "ds"
    assert export(out, "sft", target, "--response-field", "story") == 0
    assert export(out, "alpaca", target, "--response-field", "title") == 0
    assert load(target).column_names == ["id", "instruction", "input", "output"]
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["ds"]


def test_an_empty_run_gives_empty_datasets_with_the_right_columns(tmp_path):
    """load_dataset("parquet") refuses 0 rows ("no data"), so the file is read with pyarrow."""
    out = hand_written_run(tmp_path, [])
    assert export(out, "sft", tmp_path / "e.parquet") == 0 and export(out, "sft", tmp_path / "e_dir") == 0
    assert pq.read_table(tmp_path / "e.parquet").column_names == ["id", "messages"]
    data = load(tmp_path / "e_dir")
    assert data.num_rows == 0 and data.column_names == ["id", "messages"]


BAD = {
    "missing_run": (lambda run, tmp: [str(tmp / "nope"), "--format", "sft", "--to", str(tmp / "x.jsonl")], "nope: no such run directory"),
    "no_dataset": (lambda run, tmp: [str(tmp), "--format", "sft", "--to", str(tmp / "x.jsonl")], "dataset.jsonl: not found"),
    "unknown_format": (lambda run, tmp: [str(run), "--format", "csv", "--to", str(tmp / "x.jsonl")], "--format csv: unknown format"),
    "unwritable": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(run / "run.json" / "x.jsonl"), "--response-field", "story"], "--to"),
    "field_no_row_has": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(tmp / "x.jsonl"), "--response-field", "stroy"],
                         "missing 'stroy' (--response-field); the records' fields: noun, verb, features, story, title"),
    "dpo_on_stories": (lambda run, tmp: [str(run), "--format", "dpo", "--to", str(tmp / "x.parquet")], "missing 'chosen' (--chosen-field)"),
    "no_response_field": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(tmp / "x_dir")], "pass --response-field"),
    "flag_for_another_format": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(tmp / "x.jsonl"), "--label-field", "l"],
                                "--label-field is not used by --format sft"),
    "own_dataset": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(run / "dataset.jsonl"), "--response-field", "story"],
                    "one of the run's own files"),
    "json_suffix": (lambda run, tmp: [str(run), "--format", "sft", "--to", str(tmp / "x.json")], "use a .jsonl or .parquet"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, small_run, tmp_path, capsys):
    out, _ = small_run
    argv, expected = BAD[case]
    before = (out / "dataset.jsonl").read_bytes(), sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert main(["export", *argv(out, tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("synthloom: error: ") and expected in err, err
    assert ((out / "dataset.jsonl").read_bytes(), sorted(p.name for p in tmp_path.iterdir())) == before


def test_directory_output_without_datasets_installed(small_run, tmp_path, monkeypatch, capsys):
    out, _ = small_run
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert export(out, "sft", tmp_path / "ds", "--response-field", "story") == 2
    assert "needs `pip install datasets`" in capsys.readouterr().err and not (tmp_path / "ds").exists()


def test_a_broken_dataset_line_is_named(tmp_path, capsys):
    out = hand_written_run(tmp_path, [{"id": "a", "prompt": "p", "chosen": "c", "rejected": "r"}])
    with open(out / "dataset.jsonl", "a") as handle:
        handle.write("{not json\n")
    assert export(out, "dpo", tmp_path / "x.jsonl") == 2
    assert "dataset.jsonl:2: not a JSON object" in capsys.readouterr().err and not (tmp_path / "x.jsonl").exists()
