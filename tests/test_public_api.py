"""The documented Python API: a tested public surface, recipes in code, one registration seam."""

import json

import synthloom
from synthloom import FakeBackend, Recipe, Registry, RunOptions, default_registry, run
from synthloom.backends import Request, Response
from synthloom.record import Rejected


def test_public_names_exist_and_nothing_private_leaks():
    assert sorted(synthloom.__all__) == sorted(set(synthloom.__all__))
    for name in synthloom.__all__:
        assert hasattr(synthloom, name), name
        assert not name.startswith("_") or name == "__version__"


def test_recipe_built_in_code_runs_with_a_backend_object(tmp_path):
    recipe = Recipe(
        name="code",
        seed=1,
        entities={"colors": ["red", "green", "blue"], "labels": {"weights": {"yes": 1, "no": 1}}},
        slots={"color": {"from": "colors", "sampler": "coverage"}, "label": {"from": "labels", "sampler": "weighted"}},
        stages=[{"name": "text", "prompt": "Say {{ label }} about {{ color }}.", "params": {"max_tokens": 5}}],
    )
    backend = FakeBackend()
    backend.enqueue("first reply")
    result = run(recipe, 3, tmp_path, backend=backend, options=RunOptions(sequential=True))
    assert result.kept == 3
    rows = [json.loads(line) for line in result.dataset.read_text().splitlines()]
    assert rows[0]["text"] == "first reply"
    assert sorted(r["color"] for r in rows) == ["blue", "green", "red"]
    assert backend.requests[0].max_tokens == 5 and "about" in backend.requests[0].messages[0]["content"]


class ShoutStage:
    """A custom stage: asks for a word, keeps it upper-cased, rejects digits."""

    from pydantic import BaseModel as _Base

    class Config(_Base):
        kind: str = "shout"
        name: str
        word: str

    def __init__(self, config, context):
        self.name, self.word, self.model = config.name, config.word, context.model
        self.inputs, self.outputs, self.fingerprint = frozenset(), ("shout",), "shout-v1"

    def render(self, record):
        return Request(({"role": "user", "content": f"Say {self.word}"},), model=self.model, seed=record.index)

    def parse(self, response: Response, record):
        if any(ch.isdigit() for ch in response.text):
            return Rejected("has_digits", response.text)
        return {"shout": response.text.upper()}


class EchoBackend(FakeBackend):
    name = "echo"

    @classmethod
    def from_spec(cls, spec):
        return cls(model=spec.model or "echo-1", replies=["hello", "h3llo", "world"])


def test_custom_stage_and_backend_through_the_registry(tmp_path):
    registry = default_registry(plugins=False)
    registry.add_stage("shout", ShoutStage)
    registry.add_backend("echo", EchoBackend.from_spec)
    recipe = Recipe(name="plug", stages=[{"kind": "shout", "name": "s", "word": "hi"}], backend={"kind": "echo"})
    result = run(recipe, 3, tmp_path, registry=registry, options=RunOptions(sequential=True))
    rows = [json.loads(line) for line in result.dataset.read_text().splitlines()]
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [r["shout"] for r in rows] == ["HELLO", "WORLD"]
    assert [r["reason"] for r in rejected] == ["has_digits"]
    assert json.loads((tmp_path / "run.json").read_text())["backend"]["kind"] == "echo"


def test_registry_is_not_global():
    mine = default_registry(plugins=False)
    mine.add_stage("shout", ShoutStage)
    assert "shout" not in default_registry(plugins=False).stages
    assert isinstance(mine, Registry)
