"""`export --format sft` keeps a response's reasoning trace as the assistant turn's `thinking`, or drops it."""

from synthloom.backends.base import Response, Usage
from synthloom.backends.openai_wire import parse_completion
from synthloom.export.formats import FieldMap, to_sft

ROW = {"id": "r1", "story": "Once upon a time.", "story_reasoning": "A short story: start with the formula."}


def test_sft_puts_the_trace_in_the_assistant_turn_or_drops_it():
    prompt = lambda: [{"role": "user", "content": "Write a story."}]  # noqa: E731
    kept = to_sft(ROW, FieldMap(response="story"), prompt)["messages"]
    assert kept[-1] == {"role": "assistant", "content": "Once upon a time.", "thinking": ROW["story_reasoning"]}
    dropped = to_sft(ROW, FieldMap(response="story", reasoning=False), prompt)["messages"]
    assert dropped[-1] == {"role": "assistant", "content": "Once upon a time."}


def test_openai_completion_keeps_reasoning_content_and_cached_tokens():
    raw = (b'{"choices":[{"message":{"role":"assistant","content":"42","reasoning_content":"6 times 7"},'
           b'"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":5,'
           b'"prompt_tokens_details":{"cached_tokens":64}},"model":"m"}')
    response = parse_completion(raw)
    assert response.reasoning == "6 times 7" and response.usage == Usage(100, 5, 64)
    assert Response.from_dict(response.to_dict()) == response


def test_a_response_without_the_new_fields_is_stored_as_before():
    assert Response("t", usage=Usage(1, 2)).to_dict() == {"text": "t", "finish_reason": "stop",
                                                          "usage": {"prompt_tokens": 1, "completion_tokens": 2}, "model": ""}
