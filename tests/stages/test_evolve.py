import pytest
from pydantic import ValidationError

from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages.base import StageContext
from synthloom.stages.evolve import EvolveConfig, EvolveStage, eliminate_instruction, eliminate_response


def test_elimination_rules():
    assert eliminate_instruction("Describe rain.", "Describe rain.").reason == "no_change"
    assert eliminate_instruction("Describe how rain forms.", "Describe rain forms how").reason == "no_change"
    assert eliminate_instruction("Describe rain.", "Here is the rewritten prompt: describe hail").reason == "copied_prompt"
    assert eliminate_instruction("Describe rain.", "Describe how rain forms over mountains, in three steps.") is None
    assert eliminate_response("Sorry, I cannot help with that.").reason == "failed_response"
    assert eliminate_response("... the, of !").reason == "failed_response"
    assert eliminate_response("Rain forms when water vapour condenses into droplets.") is None


def test_two_steps_then_an_answer():
    stage = EvolveStage(EvolveConfig(name="ev", input="{{ seed }}", steps=2), StageContext(seed=1, model="m"))
    rec = Record(0, "r", {"seed": "Describe rain."})
    first = stage.render(rec)
    assert first.messages[1]["content"] == "Describe rain." and first.messages[0]["role"] == "system"
    second = stage.parse(Response("Rewritten instruction: Describe how rain forms over mountains."), rec)
    assert isinstance(second, Request) and second.messages[1]["content"] == "Describe how rain forms over mountains."
    answer_request = stage.parse(Response("Describe how rain forms over mountains, in three numbered steps."), rec)
    assert [m["role"] for m in answer_request.messages] == ["user"]
    done = stage.parse(Response("1. Air rises. 2. It cools. 3. Vapour condenses into rain."), rec)
    assert done["ev"] == "Describe how rain forms over mountains, in three numbered steps."
    assert len(done["ev_operations"]) == 2 and done["ev_response"].startswith("1. Air rises")


def test_a_failed_step_rejects_with_the_step_named():
    stage = EvolveStage(EvolveConfig(name="ev", input="{{ seed }}", steps=2))
    rec = Record(0, "r", {"seed": "Describe rain."})
    stage.render(rec)
    verdict = stage.parse(Response("Describe rain."), rec)
    assert isinstance(verdict, Rejected) and verdict.reason == "no_change" and verdict.detail.startswith("step 1")


def test_operations_are_seeded_per_record():
    stage = EvolveStage(EvolveConfig(name="ev", input="x", steps=3), StageContext(seed=4))
    ops = [[stage.operation(Record(i, "r", {}), step) for step in range(3)] for i in range(20)]
    assert ops == [[stage.operation(Record(i, "r", {}), step) for step in range(3)] for i in range(20)]
    assert len({op for row in ops for op in row}) == 5


def test_unknown_operation_is_a_config_error():
    with pytest.raises(ValidationError, match="unknown operations"):
        EvolveConfig(name="ev", input="x", operations=["shrink"])
