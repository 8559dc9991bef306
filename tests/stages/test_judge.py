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


def test_backtranslation_rubric_preset_fills_instruction_and_response():
    s = JudgeStage(JudgeConfig(name="q", rubric="backtranslation", instruction="{{ question }}", response="{{ answer }}",
                               threshold=4))
    content = s.render(Record(0, "r", {"question": "What is 2+2?", "answer": "4"})).messages[0]["content"]
    assert content.startswith("Below is an instruction from an user and a candidate answer")
    assert content.endswith("Instruction: What is 2+2?\nAnswer: 4")
    assert s.config.scale == (1, 5) and s.inputs == {"question", "answer"}


def test_custom_criteria_build_the_rubric_and_the_scale():
    s = JudgeStage(JudgeConfig(name="q", criteria={0: "no", 1: "partly", 2: "fully"}, response="{{ story }}",
                               question="Does the story have a moral?", threshold=1))
    content = s.render(Record(0, "r", {}, {"story": "Share toys."})).messages[0]["content"]
    assert "Does the story have a moral?\n0: no\n1: partly\n2: fully" in content and "Text: Share toys." in content
    assert s.config.scale == (0, 2)


@pytest.mark.parametrize("config", [
    {"name": "q"},  # nothing to judge with
    {"name": "q", "prompt": "x", "rubric": "quality", "instruction": "a", "response": "b"},  # two at once
    {"name": "q", "rubric": "nope", "instruction": "a", "response": "b"},
    {"name": "q", "rubric": "quality", "response": "b"},
])
def test_rubric_config_errors(config):
    with pytest.raises(ValidationError):
        JudgeConfig(**config)
