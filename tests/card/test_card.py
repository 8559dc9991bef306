"""The dataset card (README.md) of every run: written at export, parsed back, its figures checked
against the run's own files."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard

from synthloom.card.write import run_card_text
from synthloom.cli import main

RECIPES = sorted(Path("recipes").glob("*.yaml"))


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_gets_a_card(recipe, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(recipe), "-n", "6", "--dry-run", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "run.json").read_text())
    kept = read_jsonl(out / "dataset.jsonl")
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta == front_matter((out / "README.md").read_text())
    assert meta["license"] == "unknown" and {"synthetic", "synthloom", summary["recipe"]} <= set(meta["tags"])
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] and "text-generation" in meta["task_categories"]
    assert "language" not in meta  # an export does not load the language model (seconds); `synthloom card` does
    assert main(["card", str(out)]) == 0
    detected = front_matter((out / "README.md").read_text())
    language = detected.get("language")  # the fake backend echoes English prompts
    if kept and summary["schema"]["text_fields"]:
        assert language == ["en"]
    elif not kept:
        assert language is None
    else:  # structured outputs only (a label, chat messages): detected where some field reads as text
        assert language in (["en"], None)
    assert {k: v for k, v in detected.items() if k != "language"} == meta
    (config,) = meta["configs"]
    assert config["data_files"] == [{"split": "train", "path": "dataset.parquet"}] and (out / "dataset.parquet").is_file()
    body = card.text
    assert f"# {summary['recipe']}" in body and f"**{len(kept):,} records**" in body
    assert summary["recipe_fingerprint"] in body
    assert "| `fake` |" in body and "A dry run" in body  # the model that wrote the data, and what that means
    for slot, info in summary["schema"]["slots"].items():
        assert f"| `{slot}` | `{info['list']}` |" in body
    for reason, count in summary["curation"]["dropped"].items():
        assert f"| {reason.removeprefix('dropped_')} | {count:,} |" in body
    assert f"{summary['cost']['paid']['requests']:,} requests" in body
    for section in ("## Generating models and their terms", "## Recipe", "## Curation", "## Diversity", "## How to load it",
                    "## Known limits"):
        assert section in body
    if kept and summary["schema"]["text_fields"]:
        assert re.search(r"\| distinct-2 \| (0\.\d+|1\.0) \|", body)


def test_the_card_loads_with_datasets_from_the_run_and_from_export_hf(tmp_path):
    import datasets

    out = tmp_path / "run"
    assert main(["run", "recipes/amazon_reviews.yaml", "-n", "12", "--dry-run", "--quiet", "--out", str(out)]) == 0
    rows = read_jsonl(out / "dataset.jsonl")
    loaded = datasets.load_dataset(str(out), split="train")  # the card's configs pick dataset.parquet, not the other .jsonl
    assert loaded.num_rows == len(rows) == 12 and loaded[0]["review"] == rows[0]["review"]
    hub = tmp_path / "hub"
    assert main(["export", str(out), "--format", "hf", "--to", str(hub)]) == 0
    assert sorted(str(p.relative_to(hub)) for p in hub.rglob("*") if p.is_file()) == [
        "README.md", "data/train-00000-of-00001.parquet", "recipe.yaml"]
    meta = front_matter((hub / "README.md").read_text())
    assert meta["configs"][0]["data_files"][0]["path"] == "data/train-00000-of-00001.parquet"
    assert meta["task_categories"] == ["text-classification", "text-generation"]  # a `label` slot
    assert datasets.load_dataset(str(hub), split="train")["label"] == [row["label"] for row in rows]
    balance = "Balance of `label`: "
    assert balance in (hub / "README.md").read_text()


def test_the_recipe_card_section_sets_the_front_matter_without_changing_the_fingerprint(write_recipe, tmp_path):
    base = Path("recipes/sentiment.yaml").read_text()
    plain, carded = tmp_path / "plain", tmp_path / "carded"
    card = "card:\n  license: cc-by-4.0\n  language: [en, fr]\n  tags: [reviews]\n  pretty_name: My reviews\n"
    assert main(["run", str(write_recipe(base, "a.yaml")), "-n", "4", "--dry-run", "--quiet", "--out", str(plain)]) == 0
    path = write_recipe(base + card, "b.yaml")
    path.with_name("b.yaml")
    assert main(["run", str(path), "-n", "4", "--dry-run", "--quiet", "--out", str(carded)]) == 0
    meta = front_matter((carded / "README.md").read_text())
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en", "fr"] and meta["pretty_name"] == "My reviews"
    assert "reviews" in meta["tags"] and "`cc-by-4.0`" in (carded / "README.md").read_text()
    fingerprints = [json.loads((d / "run.json").read_text())["recipe_fingerprint"] for d in (plain, carded)]
    assert fingerprints[0] == fingerprints[1]


def test_a_bad_card_section_is_one_line(write_recipe, capsys):
    path = write_recipe(Path("recipes/sentiment.yaml").read_text() + "card:\n  licence: mit\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "card.licence" in err


def test_the_card_states_the_terms_of_the_model_that_wrote_the_data(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "recipes/sentiment.yaml", "-n", "3", "--dry-run", "--model", "Llama-2-7b-chat", "--quiet",
                 "--out", str(out)]) == 0
    body = (out / "README.md").read_text()
    assert "| `Llama-2-7b-chat` | 3 | Llama 2 Community License | restricted |" in body
    assert "**Before training a model on this data, read the terms of `Llama-2-7b-chat`**" in body
    assert "https://github.com/meta-llama/llama/blob/main/LICENSE (2026-" in body


def test_synthloom_card_rewrites_the_same_card_and_report_adds_its_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "recipes/tinystories.yaml", "-n", "10", "--dry-run", "--quiet", "--out", str(out)]) == 0
    written = (out / "README.md").read_text()
    (out / "README.md").unlink()
    assert main(["card", str(out)]) == 0
    rewritten = (out / "README.md").read_text()
    assert main(["card", str(out)]) == 0
    assert (out / "README.md").read_text() == rewritten  # the same files give the same card
    same = lambda text: [line for line in text.splitlines() if "language" not in line and line != "- en"]  # noqa: E731
    assert same(rewritten) == same(written) and "language:\n- en\n" in rewritten  # `card` adds the detected language
    assert "| self-BLEU" not in written
    assert main(["report", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"| self-BLEU (lower is more diverse) | {round(metrics['diversity']['self_bleu'], 4)} |" in (out / "README.md").read_text()


def test_card_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["card", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.strip() == f"synthloom: error: {tmp_path / 'nothing'}: no such run directory"


def test_run_json_is_still_renamed_last(tmp_path, monkeypatch):
    import synthloom.files as files

    renamed = []
    real = files.os.replace

    def replace(src, dst):
        renamed.append(Path(dst).name)
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    assert main(["run", "recipes/sentiment.yaml", "-n", "3", "--dry-run", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert "README.md" in renamed and renamed[-1] == "run.json"


def test_the_card_degrades_on_a_bare_install(tmp_path):
    """Without numpy and py3langid (no curate extra) the cheap diversity figures are still there; the language is not."""
    out = tmp_path / "run"
    assert main(["run", "recipes/tinystories.yaml", "-n", "8", "--dry-run", "--quiet", "--out", str(out)]) == 0
    script = ("import sys; sys.modules['numpy'] = None; sys.modules['py3langid'] = None\n"
              "from pathlib import Path; from synthloom.card.write import run_card_text\n"
              f"print(run_card_text(Path({str(out)!r})))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert "| distinct-1 | 0." in result.stdout and "| compression ratio | 0." in result.stdout
    assert "language" not in front_matter(result.stdout) and "The language is not stated" in result.stdout
    assert "language:\n- en\n" in run_card_text(out)  # with the curate extra, detected


def test_a_hand_edited_run_json_still_gives_a_card(tmp_path, capsys):
    """run.json is data: values of the wrong type show as text, never a crash (report and card share it)."""
    out = tmp_path / "run"
    assert main(["run", "recipes/tinystories.yaml", "-n", "6", "--dry-run", "--quiet", "--out", str(out)]) == 0
    info = json.loads((out / "run.json").read_text())
    info["curation"] = {"dropped": {"dropped_odd": "many"}, "constraints": {"uses_words": {"records": 3, "before": "x"}},
                        "dedup": {"dedup": {"method": "minhash", "checked": "all"}}}
    info["cost"] = {"paid": {"requests": "lots", "dollars": "free"}, "stages": {"story": {"calls": None}}}
    info["grounding"] = {"g": {"checked": "some"}}
    info["backends"] = {"judge": {"kind": 1}}
    info["schema"]["slots"]["verb"]["size"] = "unknown"
    info["schema"]["stages"].append("not a step")
    info["backend"] = "embedded"
    (out / "run.json").write_text(json.dumps(info))
    assert main(["card", str(out)]) == 0
    body = (out / "README.md").read_text()
    assert "| odd | many |" in body and "lots requests" in body and "some answers" in body
