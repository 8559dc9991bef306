"""Row → training-format conversion, one format at a time, on in-memory rows."""

import pytest

from synthloom.errors import ConfigError
from synthloom.export import FieldMap, SkipRow, convert_row, parse_label, to_alpaca, to_dpo, to_kto, to_sft, to_sharegpt

SENT = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Tell a story about a cat."}]
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
STORY = FieldMap(response="story")


def sent():
    return SENT


def nothing_sent():
    raise AssertionError("the exact prompt was looked up although the row has its own")


def skip_reason(function, row, fields=FieldMap(), exact_prompt=nothing_sent):
    with pytest.raises(SkipRow) as info:
        function(row, fields, exact_prompt)
    return info.value.reason, info.value.role


def test_sft_from_the_prompt_sent_and_a_response_field():
    assert to_sft({"id": "a", "story": "Once..."}, STORY, sent) == {
        "messages": [*SENT, {"role": "assistant", "content": "Once..."}]}


def test_sft_prompt_field_and_structured_response_as_json_text():
    row = {"q": "Describe a cat.", "info": {"legs": 4, "name": "Zoë"}}
    assert to_sft(row, FieldMap(prompt="q", response="info"), nothing_sent)["messages"] == [
        {"role": "user", "content": "Describe a cat."}, {"role": "assistant", "content": '{"legs": 4, "name": "Zoë"}'}]


def test_sft_uses_messages_as_they_are_and_drops_extra_keys():
    row = {"messages": [{"role": "system", "content": "S", "name": "x"}, *CHAT]}
    assert to_sft(row, FieldMap(), nothing_sent) == {"messages": [{"role": "system", "content": "S"}, *CHAT]}


def test_an_explicit_response_field_wins_over_messages():
    row = {"messages": CHAT, "summary": "They greet."}
    assert to_sft(row, FieldMap(response="summary"), sent)["messages"][-1]["content"] == "They greet."


def test_sft_rows_that_are_skipped():
    assert skip_reason(to_sft, {"title": "t"}, STORY, sent) == ("missing 'story'", "response")
    assert skip_reason(to_sft, {"story": "  "}, STORY, sent) == ("empty 'story'", "response")
    assert skip_reason(to_sft, {"story": "s"}, STORY, lambda: None)[0] == "no prompt in the run's lineage"
    assert skip_reason(to_sft, {"messages": [{"role": "user", "content": "only me"}]})[0] == "no assistant turn in 'messages'"
    assert skip_reason(to_sft, {"messages": [{"role": "tool", "content": "x"}]})[0].startswith("bad 'messages'")
    assert skip_reason(to_sft, {"messages": "hello"})[0].startswith("bad 'messages'")


def test_sft_without_messages_or_response_field_names_the_flag_and_the_fields():
    with pytest.raises(ConfigError, match=r"pass --response-field \(the row's fields: noun, story\)"):
        to_sft({"id": "a", "noun": "cat", "story": "s"}, FieldMap(), sent)


def test_sharegpt_renames_roles_and_keys():
    row = {"messages": [{"role": "system", "content": "S"}, *CHAT]}
    assert to_sharegpt(row, FieldMap(), nothing_sent) == {"conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    assert to_sharegpt({"story": "Once"}, STORY, sent)["conversations"][-1] == {"from": "gpt", "value": "Once"}


def test_alpaca_from_the_prompt_sent_puts_system_first():
    assert to_alpaca({"story": "Once"}, STORY, sent) == {
        "instruction": "Be kind.\n\nTell a story about a cat.", "input": "", "output": "Once"}


def test_alpaca_from_fields_and_from_a_single_exchange():
    row = {"task": "Classify the review.", "text": "Great!", "label": "positive"}
    assert to_alpaca(row, FieldMap(prompt="task", input="text", response="label"), nothing_sent) == {
        "instruction": "Classify the review.", "input": "Great!", "output": "positive"}
    assert to_alpaca({"messages": CHAT}, FieldMap(), nothing_sent) == {"instruction": "Hi", "input": "", "output": "Hello"}
    assert skip_reason(to_alpaca, {"messages": CHAT * 2})[0] == "more than one exchange (alpaca is single-turn)"
    assert skip_reason(to_alpaca, {"task": "t", "label": "l"}, FieldMap(prompt="task", input="text", response="label")) == (
        "missing 'text'", "input")


def test_dpo_from_fields_and_from_the_first_prompt_sent():
    row = {"prompt": "Explain rain.", "chosen": "Good", "rejected": "Bad"}
    assert to_dpo(row, FieldMap(), nothing_sent) == row
    assert to_dpo({"chosen": "Good", "rejected": "Bad"}, FieldMap(), sent)["prompt"] == "Tell a story about a cat."
    renamed = {"q": "Q", "a": "A", "b": "B"}
    assert to_dpo(renamed, FieldMap(prompt="q", chosen="a", rejected="b"), nothing_sent) == {"prompt": "Q", "chosen": "A", "rejected": "B"}


def test_dpo_rows_that_are_skipped():
    assert skip_reason(to_dpo, {"prompt": "p", "rejected": "r"}) == ("missing 'chosen'", "chosen")
    assert skip_reason(to_dpo, {"prompt": "p", "chosen": "c", "rejected": None}) == ("missing 'rejected'", "rejected")
    assert skip_reason(to_dpo, {"chosen": "c", "rejected": "r"}, FieldMap(), lambda: None)[1] == "prompt"
    assert skip_reason(to_dpo, {"chosen": "c", "rejected": "r"}, FieldMap(prompt="q")) == ("missing 'q'", "prompt")


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("desirable", True), ("Undesirable", False), ("true", True), (" FALSE ", False),
    (1, True), (0, False), ("1", True), ("0", False), (2, None), ("maybe", None), (0.5, None), ([], None)])
def test_kto_labels(value, expected):
    assert parse_label(value) is expected


def test_kto_rows_and_skips():
    row = {"prompt": "p", "completion": "c", "label": "undesirable"}
    assert to_kto(row, FieldMap(), nothing_sent) == [{"prompt": "p", "completion": "c", "label": False}]
    assert skip_reason(to_kto, {"prompt": "p", "completion": "c", "label": "meh"})[0].startswith("bad 'label'")
    assert skip_reason(to_kto, {"prompt": "p", "completion": "c"}) == ("missing 'label'", "label")
    assert skip_reason(to_kto, {"prompt": "p", "label": True}) == ("missing 'completion'", "completion")


def test_kto_expands_a_preference_records_completions():
    row = {"prompt": "Explain rain.", "chosen": "Good", "rejected": "Bad", "completions": [
        {"completion": "Bad", "score": 3, "label": False}, {"completion": "Good", "score": 8, "label": True}]}
    assert to_kto(row, FieldMap(), nothing_sent) == [
        {"prompt": "Explain rain.", "completion": "Bad", "label": False},
        {"prompt": "Explain rain.", "completion": "Good", "label": True}]


def test_convert_row_adds_the_id_first_and_can_leave_it_out():
    row = {"id": 7, "prompt": "p", "chosen": "c", "rejected": "r"}
    assert list(convert_row("dpo", row)[0]) == ["id", "prompt", "chosen", "rejected"]
    assert convert_row("dpo", row)[0]["id"] == "7"
    assert "id" not in convert_row("dpo", row, keep_id=False)[0]
    with pytest.raises(ConfigError, match="unknown format 'csv'"):
        convert_row("csv", row)
