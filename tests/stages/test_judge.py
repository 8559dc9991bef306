import pytest
from pydantic import ValidationError

from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages import JudgeConfig, JudgeStage, parse_score


@pytest.mark.parametrize("text,score", [
    ("Reasoning...\nScore: 4", 4), ("**Score:** 5", 5), ("score = 3", 3), ("Score: 2/5", 2),
    ("Score: 1\n...on reflection\nScore: 3", 3), ('{"score": 4}', 4), ("It scores high", None), ("", None),
])
def test_parse_score(text, score):
    assert parse_score(text) == score


def judge(**overrides):
    return JudgeStage(JudgeConfig(**({"name": "q", "prompt": "Rate: {{ answer }}", "threshold": 4} | overrides)))


def test_keeps_score_and_reasoning_at_or_above_threshold():
    s, rec = judge(), Record(0, "r", {"answer": "42"})
    assert s.render(rec).messages[0]["content"] == "Rate: 42"
    assert s.parse(Response("Good and clear.\nScore: 4"), rec) == {"q": 4, "q_reasoning": "Good and clear.\nScore: 4"}


def test_below_threshold_is_rejected_with_reason():
    s, rec = judge(), Record(0, "r", {"answer": "42"})
    s.render(rec)
    verdict = s.parse(Response("Score: 2"), rec)
    assert isinstance(verdict, Rejected) and verdict.reason == "low_score" and "2" in verdict.detail


def test_missing_score_asks_again_under_a_json_schema_then_rejects():
    s, rec = judge(repairs=1), Record(0, "r", {"answer": "42"})
    s.render(rec)
    follow = s.parse(Response("It is fine I think."), rec)
    assert isinstance(follow, Request)
    schema = follow.response_format["json_schema"]["schema"]
    assert schema["properties"]["score"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert s.parse(Response('{"score": 5}'), rec) == {"q": 5, "q_reasoning": "It is fine I think."}
    s.render(rec)
    s.parse(Response("hmm"), rec)
    assert s.parse(Response("still no"), rec).reason == "no_score"


def test_out_of_scale_score_is_not_accepted():
    s, rec = judge(repairs=0), Record(0, "r", {"answer": "42"})
    s.render(rec)
    assert s.parse(Response("Score: 9"), rec).reason == "no_score"


def test_threshold_outside_scale_is_a_config_error():
    with pytest.raises(ValidationError, match="outside the scale"):
        JudgeConfig(name="q", prompt="p", threshold=7)
