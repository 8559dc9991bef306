from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages.base import StageContext
from synthloom.stages.preference import PreferenceConfig, PreferenceStage


def stage():
    config = PreferenceConfig(name="pair", prompt="Explain {{ t }}.", candidates=[{"temperature": 0.2}, {"temperature": 1.2}],
                              scale=(1, 10), desirable=7)
    return PreferenceStage(config, StageContext(seed=2, model="m"))


def test_candidates_then_judging_then_pair_and_labels():
    s, rec = stage(), Record(0, "r", {"t": "rain"})
    first = s.render(rec)
    second = s.parse(Response("Rain is water."), rec)
    assert (first.temperature, second.temperature) == (0.2, 1.2) and first.messages == second.messages
    judge_one = s.parse(Response("Rain falls when droplets in clouds grow heavy."), rec)
    assert "Response: Rain is water." in judge_one.messages[0]["content"] and judge_one.temperature == 0.0
    judge_two = s.parse(Response("Too short.\nScore: 3"), rec)
    assert isinstance(judge_two, Request) and "droplets" in judge_two.messages[0]["content"]
    done = s.parse(Response("Clear and correct.\nScore: 8"), rec)
    assert done["prompt"] == "Explain rain." and done["chosen"].startswith("Rain falls") and done["rejected"] == "Rain is water."
    assert (done["chosen_score"], done["rejected_score"]) == (8, 3)
    assert [c["label"] for c in done["completions"]] == [False, True]


def test_unscored_reply_gets_a_json_followup_and_ties_are_rejected():
    s, rec = stage(), Record(0, "r", {"t": "rain"})
    s.render(rec)
    s.parse(Response("A"), rec)
    s.parse(Response("B"), rec)
    follow = s.parse(Response("I like it."), rec)
    assert follow.response_format["json_schema"]["schema"]["properties"]["score"]["maximum"] == 10
    s.parse(Response('{"score": 5}'), rec)
    verdict = s.parse(Response("Score: 5"), rec)
    assert isinstance(verdict, Rejected) and verdict.reason == "tie"
