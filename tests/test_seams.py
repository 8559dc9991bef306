"""Declared seams: the hooks a stage or backend may offer have defaults, plugins written against
the bare protocols get them, and only the errors a stage declares reject a record."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from synthloom import FakeBackend, Recipe, RunOptions, default_registry, run
from synthloom.backends import BackendBase, Request, Response
from synthloom.backends.base import as_backend
from synthloom.cli import main
from synthloom.errors import RecordError, StageFailed
from synthloom.stages import StageBase
from synthloom.stages.base import Regenerable


class PlainStage:
    """A plugin stage written against the bare protocol, without StageBase."""

    class Config(BaseModel):
        kind: str = "plain"
        name: str
        fail_with: str = ""

    def __init__(self, config, context):
        self.name, self.model, self.fail_with = config.name, context.model, config.fail_with
        self.inputs, self.outputs, self.fingerprint = frozenset(), (config.name,), "plain-v1"

    def render(self, record):
        return Request(({"role": "user", "content": f"record {record.index}"},), model=self.model, seed=record.index)

    def parse(self, response: Response, record):
        if self.fail_with == "record" and record.index == 1:
            raise RecordError("record 1 cannot be read")
        if self.fail_with == "bug" and record.index == 1:
            return {}["no such key"]
        return {self.name: response.text}


def plain_recipe(fail_with: str = "") -> Recipe:
    return Recipe(name="plain", stages=[{"kind": "plain", "name": "p", "fail_with": fail_with}])


def registry():
    registry = default_registry(plugins=False)
    registry.add_stage("plain", PlainStage)
    return registry


def test_a_plain_stage_gets_the_declared_defaults():
    cls = registry().stage_class("plain")
    assert issubclass(cls, StageBase) and issubclass(cls, PlainStage)
    stage = cls(PlainStage.Config(name="p"), context=type("C", (), {"model": "m"})())
    assert stage.scope == "record" and not stage.uses_corpus and stage.rewrites == frozenset()
    assert stage.score_fields() == {} and stage.figures is None and not isinstance(stage, Regenerable)
    stage.bind({})  # the default does nothing


def test_a_declared_record_error_rejects_only_that_record(tmp_path):
    result = run(plain_recipe("record"), 3, tmp_path, backend=FakeBackend(), registry=registry(),
                 options=RunOptions(sequential=True))
    assert result.kept == 2 and result.rejected == 1
    rejected = json.loads((tmp_path / "rejected.jsonl").read_text().splitlines()[0])
    assert rejected["reason"] == "render_error" and rejected["stage"] == "p" and "cannot be read" in rejected["detail"]


def test_an_undeclared_exception_is_a_bug_that_stops_the_run(tmp_path):
    with pytest.raises(StageFailed) as caught:
        run(plain_recipe("bug"), 3, tmp_path, backend=FakeBackend(), registry=registry(),
            options=RunOptions(sequential=True))
    assert caught.value.stage == "p" and caught.value.record == "plain-000001"
    assert isinstance(caught.value.error, KeyError)
    store_rows = run(plain_recipe(), 1, tmp_path / "again", backend=FakeBackend(), registry=registry())
    assert store_rows.kept == 1


class Broken(PlainStage):
    def render(self, record):
        return 1 / 0


def test_the_cli_names_stage_and_record_and_shows_the_traceback_with_debug(tmp_path, monkeypatch, capsys):
    import synthloom.prepare.plan as plan

    def with_broken(plugins: bool = True):
        registry = default_registry(plugins=False)
        registry.add_stage("plain", Broken)
        return registry

    monkeypatch.setattr(plan, "default_registry", with_broken)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: plain\nstages:\n  - {kind: plain, name: p}\n")
    code = main(["run", str(recipe), "-n", "2", "--dry-run", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "stage 'p' failed on record plain-000000: ZeroDivisionError" in err
    assert "--debug" in err and "Traceback" not in err
    code = main(["run", str(recipe), "-n", "2", "--dry-run", "--out", str(tmp_path / "o"), "--quiet", "--debug"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err


class BareBackend:
    """A backend object with only the protocol's five members."""

    name, model_id = "bare", "bare-1"

    async def start(self):
        pass

    async def complete(self, request):
        return await FakeBackend("bare-1").complete(request)

    async def close(self):
        pass


def test_a_bare_backend_gets_the_declared_defaults_and_runs(tmp_path):
    wrapped = as_backend(BareBackend())
    assert isinstance(wrapped, BackendBase) and wrapped.engine_stats() is None and wrapped.endpoint_stats() is None
    assert not wrapped.answers_for_free and wrapped.token_counting().startswith("approximate")
    assert as_backend(FakeBackend()).answers_for_free
    result = run(Recipe(name="b", stages=[{"name": "t", "prompt": "hello"}]), 2, tmp_path, backend=BareBackend())
    assert result.kept == 2
    assert json.loads((tmp_path / "run.json").read_text())["backend"]["kind"] == "bare"
