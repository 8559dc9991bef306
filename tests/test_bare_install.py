"""`pip install synthloom` with no extras: the fake and openai backends run end to end.

A fresh venv gets the package from a copy of this tree (no extras, no editable install, pip's
cache for the dependencies), then runs the commands a new user would, the openai backend against
a loopback OpenAI-compatible server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.backends.scripted_server import completion, scripted_server
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

RECIPE = ROOT / "recipes" / "sentiment.yaml"
N = 5
# What the extras bring (pyproject.toml's corpus, curate, embedded, finetune, ray): none may be there.
EXTRA_MODULES = ("numpy", "sklearn", "bm25s", "wordllama", "rensa", "lemminflect", "matplotlib", "llama_cpp", "torch", "ray")
RUN_FILES = ("dataset.jsonl", "dataset.parquet", "rejected.jsonl", "lineage.jsonl", "run.json", "recipe.yaml")


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A venv holding synthloom and its required dependencies only; returns its bin directory."""
    base = tmp_path_factory.mktemp("bare")
    source = base / "synthloom-src"  # a copy, so the build writes nothing into the worktree
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          str(source)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv / "bin"


def synthloom(bin_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OPENAI_API_KEY": "sk-bare-test", **(env or {})}
    environment.pop("PYTHONPATH", None)  # nothing from the dev venv or the tree
    return subprocess.run([str(bin_dir / "synthloom"), *args], capture_output=True, text=True, timeout=300,
                          cwd=bin_dir.parent, env=environment)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_run_files(out: Path, n: int) -> list[dict]:
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    kept = rows(out / "dataset.jsonl")
    assert len(kept) == n and pq.read_table(out / "dataset.parquet").num_rows == n
    assert rows(out / "rejected.jsonl") == [] and len(rows(out / "lineage.jsonl")) == n
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == n and summary["rejected"] == 0 and summary["this_run"]["requests_sent"] == n
    assert summary["synthloom"] == "0.1.0"  # the installed version, from the package's metadata
    return kept


def test_the_venv_has_no_extras(bare_venv):
    probe = f"import importlib.util, json; print(json.dumps([m for m in {EXTRA_MODULES!r} if importlib.util.find_spec(m)]))"
    found = subprocess.run([str(bare_venv / "python"), "-c", probe], capture_output=True, text=True, check=True, cwd=bare_venv)
    assert json.loads(found.stdout) == []
    where = subprocess.run([str(bare_venv / "python"), "-c", "import synthloom; print(synthloom.__file__)"],
                           capture_output=True, text=True, check=True, cwd=bare_venv).stdout
    assert where.startswith(str(bare_venv.parent)), where  # the installed copy, not this tree


def test_dry_run_writes_every_run_file(bare_venv, tmp_path):
    out = tmp_path / "dry"
    done = synthloom(bare_venv, "run", str(RECIPE), "-n", str(N), "--dry-run", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    kept = assert_run_files(out, N)
    assert {r["sentiment"] for r in kept} <= {"positive", "negative"} and all(r["review"] for r in kept)


def test_openai_backend_against_a_loopback_server(bare_venv, tmp_path):
    out = tmp_path / "openai"
    with scripted_server(lambda body, number: completion(f"review {number} of {len(body['messages'])} messages")) as server:
        done = synthloom(bare_venv, "run", str(RECIPE), "-n", str(N), "--backend", "openai", "--base-url", server["url"],
                         "--model", "scripted", "--quiet", "--out", str(out))
        calls = server["calls"]
    assert done.returncode == 0, done.stderr
    kept = assert_run_files(out, N)
    assert len(calls) == N and {c["auth"] for c in calls} == {"Bearer sk-bare-test"}
    assert {c["body"]["model"] for c in calls} == {"scripted"}
    assert sorted(r["review"] for r in kept) == sorted(f"review {i} of 2 messages" for i in range(1, N + 1))


def test_validate_estimate_export_and_a_missing_extra(bare_venv, tmp_path):
    checked = synthloom(bare_venv, "validate", str(RECIPE))
    assert checked.returncode == 0 and "ok:" in checked.stdout, checked.stderr
    estimated = synthloom(bare_venv, "estimate", str(RECIPE), "-n", "100", "--backend", "fake", "--json")
    assert estimated.returncode == 0, estimated.stderr
    assert json.loads(estimated.stdout)["prompt_tokens"] > 0
    out = tmp_path / "run"
    assert synthloom(bare_venv, "run", str(RECIPE), "-n", str(N), "--dry-run", "--quiet", "--out", str(out)).returncode == 0
    exported = synthloom(bare_venv, "export", str(out), "--format", "sft", "--response-field", "review",
                         "--to", str(tmp_path / "sft.parquet"))
    assert exported.returncode == 0, exported.stderr
    table = pq.read_table(tmp_path / "sft.parquet")
    assert table.num_rows == N and table.column("messages").to_pylist()[0][-1]["role"] == "assistant"
    report = synthloom(bare_venv, "report", str(out))  # needs the curate extra: one line saying so, exit 2
    assert report.returncode == 2 and "Traceback" not in report.stderr
    assert report.stderr.strip().splitlines() == [report.stderr.strip()] and "pip install 'synthloom[curate]'" in report.stderr


def test_a_curation_step_that_needs_an_extra_stops_before_any_request(bare_venv, tmp_path):
    recipe = tmp_path / "checked.yaml"
    recipe.write_text("name: checked\nentities: {nouns: [cat, dog]}\nslots: {noun: nouns}\n"
                      "stages: [{name: story, prompt: 'Write about {{ noun }}.'}]\n"
                      "curate: [{kind: constraints, name: uses_words, field: story, words: [noun]}]\n")
    checked = synthloom(bare_venv, "validate", str(recipe))
    assert checked.returncode == 2 and "pip install 'synthloom[curate]'" in checked.stderr and "lemminflect" in checked.stderr
    with scripted_server(lambda body, number: completion("a cat")) as server:
        done = synthloom(bare_venv, "run", str(recipe), "-n", "3", "--backend", "openai", "--base-url", server["url"],
                         "--model", "scripted", "--quiet", "--out", str(tmp_path / "out"))
        calls = len(server["calls"])
    assert done.returncode == 2 and "Traceback" not in done.stderr and "pip install 'synthloom[curate]'" in done.stderr
    assert calls == 0  # nothing paid for
