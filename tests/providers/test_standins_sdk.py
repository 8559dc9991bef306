"""The providers' official SDKs, unchanged, against the loopback stand-ins: proof that the
stand-ins follow the published API shapes the backends are tested against."""

from __future__ import annotations

import io
import json

import anthropic
import openai
import pytest

from .anthropic_standin import anthropic_standin
from .openai_standin import openai_standin
from .serve import KEY


def batch_line(custom_id: str, prompt: str) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}], "max_tokens": 20}}


def test_openai_sdk_chat_and_a_whole_batch_round_trip():
    with openai_standin() as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "say hi"}])
        assert chat.choices[0].message.content.endswith("say hi") and chat.usage.prompt_tokens == 2
        assert chat.usage.prompt_tokens_details.cached_tokens == 0

        lines = "\n".join(json.dumps(batch_line(f"req-{i}", f"prompt number {i}")) for i in range(3)) + "\n"
        uploaded = client.files.create(file=("in.jsonl", io.BytesIO(lines.encode())), purpose="batch")
        assert uploaded.purpose == "batch" and uploaded.bytes == len(lines.encode())
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"synthloom_tag": "t1"})
        assert batch.metadata == {"synthloom_tag": "t1"} and batch.request_counts.total == 3
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts.completed == 3
        output = client.files.content(done.output_file_id).text.splitlines()
        by_id = {json.loads(line)["custom_id"]: json.loads(line) for line in output}
        assert by_id["req-1"]["response"]["status_code"] == 200
        assert by_id["req-1"]["response"]["body"]["choices"][0]["message"]["content"].endswith("prompt number 1")
        listed = client.batches.list(limit=10)
        assert [b.id for b in listed.data] == [batch.id]
        assert server.ledger.submissions == {"req-0": 1, "req-1": 1, "req-2": 1}


def test_openai_sdk_sees_failed_lines_cancel_and_typed_errors():
    with openai_standin() as server:
        server.faults.failed_lines = lambda custom_id: custom_id == "req-1"
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        lines = "\n".join(json.dumps(batch_line(f"req-{i}", f"p {i}")) for i in range(3))
        uploaded = client.files.create(file=("in.jsonl", io.BytesIO(lines.encode())), purpose="batch")
        batch = client.batches.retrieve(client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                                              completion_window="24h").id)
        assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 1)
        errors = [json.loads(line) for line in client.files.content(batch.error_file_id).text.splitlines()]
        assert errors[0]["custom_id"] == "req-1" and errors[0]["response"]["status_code"] == 500

        server.faults.failed_lines = lambda custom_id: False
        server.faults.never_finish = True
        pending = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.cancel(pending.id).status == "cancelled"  # nothing done before the cancel
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="wrong", base_url=server.base_url, max_retries=0).batches.list()
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_missing")


def test_anthropic_sdk_messages_streaming_thinking_and_cache():
    with anthropic_standin() as server:
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        system = [{"type": "text", "text": "You are a careful writer of short stories.", "cache_control": {"type": "ephemeral"}}]
        first = client.messages.create(model="claude-haiku-4-5", max_tokens=50, system=system,
                                       messages=[{"role": "user", "content": "a story about a cat"}])
        second = client.messages.create(model="claude-haiku-4-5", max_tokens=50, system=system,
                                        messages=[{"role": "user", "content": "a story about a dog"}])
        assert first.usage.cache_creation_input_tokens == 8 and second.usage.cache_read_input_tokens == 8
        assert first.stop_reason == "end_turn" and first.content[0].text.endswith("a story about a cat")
        assert server.headers_seen[0]["anthropic-version"]

        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                    thinking={"type": "enabled", "budget_tokens": 1024},
                                    messages=[{"role": "user", "content": "think then answer"}]) as stream:
            streamed = stream.get_final_message()
        assert [b.type for b in streamed.content] == ["thinking", "text"]
        assert streamed.content[0].thinking.startswith("The user asks") and streamed.content[1].text.endswith("think then answer")
        assert streamed.usage.output_tokens > 0

        server.faults.online = [(529, {}), (429, {"retry-after": "3"})]
        with pytest.raises(anthropic.InternalServerError) as overloaded:
            client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert overloaded.value.status_code == 529
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert limited.value.response.headers["retry-after"] == "3"
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(api_key="wrong", base_url=server.base_url, max_retries=0).models.list()


def test_anthropic_sdk_message_batches_round_trip_with_errored_and_canceled_lines():
    with anthropic_standin() as server:
        server.faults.failed_lines = lambda custom_id: custom_id == "b"
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        requests = [{"custom_id": cid, "params": {"model": "claude-haiku-4-5", "max_tokens": 30,
                                                  "messages": [{"role": "user", "content": f"prompt {cid}"}]}}
                    for cid in ("a", "b", "c")]
        batch = client.messages.batches.create(requests=requests)
        assert batch.type == "message_batch"
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.succeeded == 2 and ended.request_counts.errored == 1
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert results["a"].type == "succeeded" and results["a"].message.content[0].text.endswith("prompt a")
        assert results["b"].type == "errored" and results["b"].error.error.type == "api_error"
        assert [b.id for b in client.messages.batches.list(limit=5).data] == [batch.id]

        server.faults.failed_lines = lambda custom_id: False
        server.faults.never_finish = True
        pending = client.messages.batches.create(requests=requests)
        assert client.messages.batches.retrieve(pending.id).processing_status == "in_progress"
        client.messages.batches.cancel(pending.id)
        canceled = {r.custom_id: r.result.type for r in client.messages.batches.results(pending.id)}
        assert canceled == {"a": "canceled", "b": "canceled", "c": "canceled"}
        assert server.ledger.submissions == {"a": 2, "b": 2, "c": 2} and server.ledger.billed == {"a": 1, "c": 1}
