import pytest

from synthloom.export.formats import FieldMap, Skip, convert

SENT = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Tell a story about a cat."}]
FIELDS = FieldMap(prompt=None, response="story", chosen="chosen", rejected="rejected", completion="completion", label="label")


def test_sft_from_sent_prompt_and_response_field():
    [row] = convert("sft", {"id": "a", "story": "Once..."}, FIELDS, SENT)
    assert row == {"id": "a", "messages": [*SENT, {"role": "assistant", "content": "Once..."}]}


def test_sft_keeps_conversation_messages_and_sharegpt_renames_roles():
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert convert("sft", {"id": "c", "messages": msgs}, FIELDS, None, keep_id=False) == [{"messages": msgs}]
    [row] = convert("sharegpt", {"id": "c", "messages": msgs}, FIELDS, None)
    assert row["conversations"] == [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]


def test_alpaca_and_structured_response_as_json_text():
    [row] = convert("alpaca", {"id": "a", "story": {"title": "Cat"}}, FIELDS, SENT)
    assert row == {"id": "a", "instruction": "Tell a story about a cat.", "input": "Be kind.", "output": '{"title": "Cat"}'}


def test_dpo_and_kto_from_a_preference_record():
    row = {"id": "p", "prompt": "Explain rain.", "chosen": "Good", "rejected": "Bad",
           "completions": [{"completion": "Bad", "label": False}, {"completion": "Good", "label": True}]}
    fields = FieldMap(FIELDS, prompt="prompt")
    assert convert("dpo", row, fields, None) == [{"id": "p", "prompt": "Explain rain.", "chosen": "Good", "rejected": "Bad"}]
    assert [(r["completion"], r["label"]) for r in convert("kto", row, fields, None)] == [("Bad", False), ("Good", True)]


def test_kto_labels_from_text_and_skips():
    fields = FieldMap(FIELDS, prompt="q")
    assert convert("kto", {"q": "x", "completion": "y", "label": "desirable"}, fields, None)[0]["label"] is True
    with pytest.raises(Skip, match="not desirable"):
        convert("kto", {"q": "x", "completion": "y", "label": "maybe"}, fields, None)
    with pytest.raises(Skip, match="no chosen"):
        convert("dpo", {"q": "x", "rejected": "r"}, fields, None)
    with pytest.raises(Skip, match="no prompt"):
        convert("sft", {"story": "s"}, FIELDS, None)
