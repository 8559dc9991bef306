"""`synthloom export` end to end; every output is loaded back with the `datasets` library."""

import json

import pytest

from synthloom.cli import main

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def make_run(tmp_path, recipe, n=4):
    out = tmp_path / "run"
    assert main(["run", recipe, "-n", str(n), "--dry-run", "--quiet", "--out", str(out)]) == 0
    return out, [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]


def load(path):
    if path.suffix == ".jsonl":
        return datasets.load_dataset("json", data_files=str(path), split="train")
    if path.suffix == ".parquet":
        return datasets.load_dataset("parquet", data_files=str(path), split="train")
    return datasets.load_from_disk(str(path))


@pytest.mark.parametrize("target", ["sft.jsonl", "sft.parquet", "sft_dir"])
def test_sft_uses_the_exact_prompt_sent(tmp_path, target):
    out, rows = make_run(tmp_path, "recipes/tinystories.yaml")
    assert main(["export", str(out), "--format", "sft", "--to", str(tmp_path / target)]) == 0
    data = load(tmp_path / target)
    assert data.column_names == ["id", "messages"] and data.num_rows == 4
    first = data[0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"]
    assert f'the noun "{rows[0]["noun"]}"' in first[0]["content"]
    assert first[1]["content"] == rows[0]["story"]


def test_alpaca_and_sharegpt(tmp_path):
    out, rows = make_run(tmp_path, "recipes/sentiment.yaml")
    assert main(["export", str(out), "--format", "alpaca", "--to", str(tmp_path / "a.parquet")]) == 0
    alpaca = load(tmp_path / "a.parquet")
    assert alpaca.column_names == ["id", "instruction", "input", "output"]
    assert rows[0]["category"] in alpaca[0]["instruction"] and alpaca[0]["input"].startswith("You write realistic")
    assert main(["export", str(out), "--format", "sharegpt", "--to", str(tmp_path / "s.jsonl")]) == 0
    assert [t["from"] for t in load(tmp_path / "s.jsonl")[0]["conversations"]] == ["system", "human", "gpt"]


def test_conversations_dpo_and_kto(tmp_path):
    out, _ = make_run(tmp_path, "recipes/conversation.yaml", n=2)
    assert main(["export", str(out), "--format", "sft", "--to", str(tmp_path / "c.jsonl")]) == 0
    assert len(load(tmp_path / "c.jsonl")[0]["messages"]) == 6
    pref = tmp_path / "pref"
    assert main(["run", "recipes/preference.yaml", "-n", "3", "--dry-run", "--quiet", "--out", str(pref)]) == 0
    assert main(["export", str(pref), "--format", "dpo", "--to", str(tmp_path / "dpo")]) == 0
    dpo = load(tmp_path / "dpo")
    assert dpo.column_names == ["id", "prompt", "chosen", "rejected"] and dpo.num_rows == 3
    assert main(["export", str(pref), "--format", "kto", "--to", str(tmp_path / "kto.jsonl"), "--no-id"]) == 0
    kto = load(tmp_path / "kto.jsonl")
    assert kto.column_names == ["prompt", "completion", "label"] and kto.num_rows == 6
    assert set(kto["label"]) <= {True, False}


def test_bad_export_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--format", "sft", "--to", str(tmp_path / "x.jsonl")]) == 2
    assert "dataset.jsonl: not found" in capsys.readouterr().err
    out, _ = make_run(tmp_path, "recipes/tinystories.yaml", n=2)
    assert main(["export", str(out), "--format", "dpo", "--to", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no chosen" in err and not (tmp_path / "x.jsonl").exists()
