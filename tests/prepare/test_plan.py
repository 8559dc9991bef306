"""Run setup written once: the plan, the directory lock taken once, the pipeline built complete."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from synthloom import BackendSpec, load_recipe, run
from synthloom.errors import RecipeError
from synthloom.prepare import RunDirectory, prepare_run
from synthloom.store import RunLock

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_a_run_with_a_corpus_takes_the_directory_lock_once(tmp_path, monkeypatch):
    taken = []
    original = RunLock.__enter__

    def counting(self):
        taken.append(self.path)
        return original(self)

    monkeypatch.setattr(RunLock, "__enter__", counting)
    result = run(RECIPES / "grounded_qa.yaml", 2, tmp_path / "o", backend=BackendSpec(kind="fake"))
    assert result.ingest is not None and (tmp_path / "o" / "corpus").is_dir()  # the corpus was ingested under the lock
    assert taken == [tmp_path / "o" / ".lock"]


def test_a_recipe_error_is_found_before_the_directory_is_made(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nstages:\n  - {name: s, prompt: '{{ nowhere }}'}\n")
    with pytest.raises(RecipeError):
        run(recipe, 1, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_the_plan_is_picklable_and_builds_the_same_pipeline(tmp_path):
    with RunDirectory(tmp_path / "o") as directory:
        plan = prepare_run(load_recipe(RECIPES / "sentiment.yaml"), directory, backend=BackendSpec(kind="fake"))
    again = pickle.loads(pickle.dumps(plan))
    assert again.pipeline().fingerprint() == plan.pipeline().fingerprint()
    assert again.pipeline().new_record(7).slots == plan.pipeline().new_record(7).slots
    assert not (tmp_path / "o").exists()  # no corpus: nothing written while preparing
