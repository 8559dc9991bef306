from synthloom.backends import Response
from synthloom.recipe import GenerationParams
from synthloom.record import Record, Rejected
from synthloom.stages import GenerateConfig, GenerateStage, StageContext


def test_render_merges_params_and_derives_seed_per_record():
    context = StageContext(seed=5, params=GenerationParams(temperature=0.7, top_p=0.9), model="m1")
    stage = GenerateStage(GenerateConfig(name="s", prompt="Hi {{ x }}", system="Be {{ y }}", params={"temperature": 1.1}), context)
    a = stage.render(Record(0, "r0", {"x": "A", "y": "kind"}))
    b = stage.render(Record(1, "r1", {"x": "B", "y": "kind"}))
    assert a.messages == ({"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hi A"})
    assert (a.temperature, a.top_p, a.model) == (1.1, 0.9, "m1")
    assert a.seed != b.seed and a.seed == stage.render(Record(0, "r0", {"x": "A", "y": "kind"})).seed
    assert stage.inputs == {"x", "y"} and stage.outputs == ("s",)


def test_fixed_seed_is_used_for_every_record():
    stage = GenerateStage(GenerateConfig(name="s", prompt="p", params={"seed": 42}))
    assert {stage.render(Record(i, "r", {})).seed for i in range(3)} == {42}


def test_parse_strips_and_rejects_empty():
    stage = GenerateStage(GenerateConfig(name="s", prompt="p", output="text"))
    assert stage.parse(Response("  hello \n"), Record(0, "r", {})) == {"text": "hello"}
    assert isinstance(stage.parse(Response(" \n"), Record(0, "r", {})), Rejected)
