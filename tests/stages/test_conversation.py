import json

import pytest

from synthloom.backends import Request, Response
from synthloom.record import Record, Rejected
from synthloom.stages import ConversationConfig, ConversationStage, StageContext


def stage(**overrides):
    config = {"name": "chat", "user": "You are {{ who.user }} asking about {{ topic }}.",
              "assistant": "You are {{ who.assistant }}.", "opener": "Start on {{ topic }}.", "turns": 4, "min_turns": 2}
    return ConversationStage(ConversationConfig(**(config | overrides)), StageContext(seed=3, model="m"))


def record():
    return Record(0, "r-0", {"topic": "rain", "who": {"user": "a child", "assistant": "a teacher"}})


def test_turns_alternate_and_each_speaker_sees_its_own_side():
    s, rec = stage(), record()
    first = s.render(rec)
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assert "a child asking about rain" in first.messages[0]["content"] and first.messages[1]["content"] == "Start on rain."
    second = s.parse(Response("Why does it rain?"), rec)
    assert isinstance(second, Request)
    assert second.messages[0]["content"].startswith("You are a teacher.")
    assert [(m["role"], m["content"]) for m in second.messages[1:]] == [("user", "Why does it rain?")]
    third = s.parse(Response("Clouds get heavy."), rec)
    assert [(m["role"], m["content"]) for m in third.messages[1:]] == [
        ("user", "Start on rain."), ("assistant", "Why does it rain?"), ("user", "Clouds get heavy.")]
    assert len({first.seed, second.seed, third.seed}) == 3 and third.model == "m"
    s.parse(Response("Oh!"), rec)
    done = s.parse(Response("Yes."), rec)
    assert done == {"messages": [
        {"role": "user", "content": "Why does it rain?"}, {"role": "assistant", "content": "Clouds get heavy."},
        {"role": "user", "content": "Oh!"}, {"role": "assistant", "content": "Yes."}]}


def test_end_marker_ends_after_min_turns_only():
    s, rec = stage(min_turns=3), record()
    s.render(rec)
    s.parse(Response("Hi"), rec)
    assert isinstance(s.parse(Response("Bye [END]"), rec), Request), "min_turns not reached yet"
    done = s.parse(Response("Bye! [END]"), rec)
    assert [m["content"] for m in done["messages"]] == ["Hi", "Bye", "Bye!"]


def test_empty_first_turn_is_rejected():
    s, rec = stage(), record()
    s.render(rec)
    assert isinstance(s.parse(Response("  "), rec), Rejected)


def test_min_turns_above_turns_is_a_config_error():
    with pytest.raises(ValueError, match="min_turns"):
        ConversationConfig(name="c", user="u", assistant="a", turns=2, min_turns=3)


def test_conversation_recipe_end_to_end_on_fake(tmp_path):
    from synthloom.cli import main

    assert main(["run", "recipes/conversation.yaml", "-n", "4", "--dry-run", "--quiet", "--out", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * 3
        assert row["topic"] in row["messages"][0]["content"]
        assert set(row["roles"]) == {"user", "assistant"}
    calls = json.loads((tmp_path / "lineage.jsonl").read_text().splitlines()[0])["calls"]
    assert len(calls) == 6 and all(c["stage"] == "dialogue" for c in calls)
