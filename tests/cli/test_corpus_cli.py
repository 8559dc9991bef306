"""`synthloom ingest`, `synthloom search` and `run --corpus`, through the entry point."""

import json

from tests.conftest import ROOT, run_cli

GROUNDED = """\
name: g
seed: 1
entities:
  passage: {chunks: {}}
slots:
  chunk: {from: passage, sampler: coverage}
stages:
  - name: question
    prompt: "Ask about: {{ chunk.text }}"
    params: {max_tokens: 20}
  - kind: grounded_answer
    name: answer
    include: ["{{ chunk.id }}"]
  - kind: grounding
    name: grounded
    answer: answer
"""


def test_ingest_then_search_then_reingest(docs, tmp_path):
    (docs / "empty.txt").write_text("")
    result = run_cli("ingest", docs, "--out", tmp_path / "c", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "5 files (5 new)" in result.stdout and "1 warning" in result.stdout
    assert "warning: empty.txt: skipped: empty file" in result.stderr and "Traceback" not in result.stderr
    found = run_cli("search", tmp_path / "c", "Which enzyme fixes carbon dioxide?", "-k", "2")
    assert found.returncode == 0 and found.stdout.startswith("1. photosynthesis.md#")
    again = run_cli("ingest", docs, "--out", tmp_path / "c")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_bad_corpus_inputs_are_one_line_errors(docs, tmp_path, write_recipe):
    cases = [
        run_cli("ingest", tmp_path / "nope", "--out", tmp_path / "c"),
        run_cli("ingest", docs, "--out", tmp_path / "c", "--chunk-tokens", "100", "--overlap", "90"),
        run_cli("search", tmp_path / "not_a_corpus", "q"),
        run_cli("search", docs, "q"),
        run_cli("run", write_recipe(GROUNDED), "--dry-run", "--out", tmp_path / "o"),
        run_cli("run", write_recipe(GROUNDED), "--dry-run", "--corpus", tmp_path / "nope", "--out", tmp_path / "o"),
    ]
    expected = ["no such file", "overlap", "no such directory", "not an ingested corpus", "no `corpus:`", "--corpus"]
    for result, words in zip(cases, expected):
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr, result.stderr


def test_run_with_an_ingested_corpus_records_cited_chunks(docs, tmp_path, write_recipe):
    assert run_cli("ingest", docs, "--out", tmp_path / "c", "--quiet").returncode == 0
    out = tmp_path / "o"
    result = run_cli("run", write_recipe(GROUNDED), "-n", "4", "--dry-run", "--quiet", "--corpus", tmp_path / "c", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "grounding (grounded):" in result.stdout
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rows) + len(rejected) == 4 and {r["reason"] for r in rejected} <= {"unsupported_judge"}
    chunk_ids = {json.loads(line)["id"] for line in (tmp_path / "c" / "chunks.jsonl").read_text().splitlines()}
    for row in rows:
        assert row["answer_sources"][0] == row["chunk"]["id"]
        assert set(row["answer_citations"]) <= set(row["answer_sources"]) <= chunk_ids
    summary = json.loads((out / "run.json").read_text())["grounding"]["grounded"]
    assert summary["checked"] == 4 and summary["supported"] == len(rows)
    assert summary["supported_fraction"] == round(len(rows) / 4, 4)
    assert not (out / "corpus").exists(), "an ingested corpus is used in place"


def test_recipe_documents_are_ingested_into_the_run_directory_once(tmp_path):
    out = tmp_path / "o"
    recipe = ROOT / "recipes" / "grounded_qa.yaml"
    first = run_cli("run", recipe, "-n", "2", "--dry-run", "--quiet", "--out", out)
    assert first.returncode == 0, first.stderr
    assert "corpus: " in first.stderr and (out / "corpus" / "manifest.json").exists()
    second = run_cli("run", recipe, "-n", "2", "--dry-run", "--quiet", "--out", out)
    assert second.returncode == 0 and "corpus: " not in second.stderr
    assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 0
