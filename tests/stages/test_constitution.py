"""Constitution-style critique: one judged call per rule, verdicts parsed, violations rejected."""

import pytest

from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages.constitution import ConstitutionConfig, ConstitutionStage, parse_verdict

RULES = ["Use only words a three-year-old knows.", "No violence."]


@pytest.mark.parametrize("text,verdict", [
    ("Simple words only.\nVerdict: PASS", True), ("It has a fight.\n**Verdict:** FAIL", False),
    ('{"verdict": "FAIL"}', False), ("Verdict: FAIL ... actually Verdict: pass", True), ("Looks fine.", None),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) is verdict


def stage(**overrides):
    return ConstitutionStage(ConstitutionConfig(**({"text": "{{ story }}", "context": "{{ prompt }}", "rules": RULES} | overrides)))


def test_each_rule_is_its_own_call_and_all_pass():
    s, rec = stage(), Record(0, "r", {"prompt": "a story"}, {"story": "The cat naps."})
    first = s.render(rec)
    assert RULES[0] in first.messages[0]["content"] and "The cat naps." in first.messages[0]["content"]
    second = s.parse(Response("Fine.\nVerdict: PASS"), rec)
    assert isinstance(second, Request) and RULES[1] in second.messages[0]["content"] and second.seed != first.seed
    result = s.parse(Response("No harm.\nVerdict: PASS"), rec)
    assert result == {"constitution": {"violations": [], "checked": 2},
                      "constitution_critiques": ["Fine.\nVerdict: PASS", "No harm.\nVerdict: PASS"]}


def test_a_broken_rule_rejects_with_the_rule_and_critique():
    s, rec = stage(), Record(0, "r", {"prompt": "a story"}, {"story": "The knight slays the dragon."})
    s.render(rec)
    s.parse(Response("Verdict: PASS"), rec)
    result = s.parse(Response("A dragon is slain, which is violent.\nVerdict: FAIL"), rec)
    assert isinstance(result, Rejected) and result.reason == "violates_rule"
    assert "No violence." in result.detail and "slain" in result.detail
    assert result.fields["constitution"]["violations"] == ["No violence."]


def test_max_violations_tolerates_some():
    s, rec = stage(max_violations=1), Record(0, "r", {"prompt": "p"}, {"story": "x"})
    s.render(rec)
    s.parse(Response("Verdict: FAIL"), rec)
    assert s.parse(Response("Verdict: PASS"), rec)["constitution"]["violations"] == [RULES[0]]


def test_missing_verdict_asks_under_a_schema_then_gives_up():
    s, rec = stage(rules=RULES[:1]), Record(0, "r", {"prompt": "p"}, {"story": "x"})
    s.render(rec)
    follow = s.parse(Response("I am not sure."), rec)
    assert follow.response_format["json_schema"]["schema"]["properties"]["verdict"]["enum"] == ["PASS", "FAIL"]
    assert s.parse(Response("still unsure"), rec).reason == "no_verdict"
