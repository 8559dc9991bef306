import pytest
from pydantic import BaseModel, ValidationError

from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages import GenerateConfig, GenerateStage

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1, "maximum": 5}},
          "required": ["q", "n"], "additionalProperties": False}


def stage(repairs=2):
    return GenerateStage(GenerateConfig(name="quiz", prompt="Ask about {{ t }}", schema=SCHEMA, repairs=repairs))


def test_render_asks_for_json_and_sets_response_format():
    request = stage().render(Record(0, "r", {"t": "rain"}))
    assert request.response_format["json_schema"]["schema"] == SCHEMA
    assert "JSON Schema" in request.messages[-1]["content"] and '"q"' in request.messages[-1]["content"]


def test_valid_json_becomes_an_object_fences_and_all():
    s, rec = stage(), Record(0, "r", {"t": "rain"})
    s.render(rec)
    assert s.parse(Response('```json\n{"q": "Why?", "n": 2}\n```'), rec) == {"quiz": {"q": "Why?", "n": 2}}


def test_invalid_reply_gets_a_repair_request_showing_the_error_then_rejection():
    s, rec = stage(repairs=1), Record(0, "r", {"t": "rain"})
    first = s.render(rec)
    repair = s.parse(Response('{"q": "Why?", "n": 9}'), rec)
    assert isinstance(repair, Request)
    assert [m["role"] for m in repair.messages] == ["user", "assistant", "user"]
    assert "9 is greater than the maximum of 5" in repair.messages[-1]["content"]
    assert repair.seed != first.seed and repair.response_format == first.response_format
    verdict = s.parse(Response("not json at all"), rec)
    assert isinstance(verdict, Rejected) and verdict.reason == "schema_invalid" and "not JSON" in verdict.detail


def test_pydantic_model_as_schema_and_bad_schema_refused():
    class Quiz(BaseModel):
        q: str
        n: int

    config = GenerateConfig(name="quiz", prompt="p", schema=Quiz)
    assert config.schema_["required"] == ["q", "n"]
    with pytest.raises(ValidationError):
        GenerateConfig(name="quiz", prompt="p", schema={"type": "no-such-type"})
