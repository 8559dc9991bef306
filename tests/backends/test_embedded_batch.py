"""The embedded backend's batched decoding (llama_batch.py) with the real SmolLM2-135M model."""

import asyncio
import json

import pytest

from synthloom.backends.base import ContextTooLong, Request
from synthloom.backends.embedded import EmbeddedBackend
from synthloom.recipe import BackendSpec

pytestmark = pytest.mark.slow

TOPICS = ["a red kite", "the moon", "a lighthouse", "bread", "a chess game", "rain", "a lost key", "volcanoes"]
LIMITS = [(4, ()), (12, ()), (30, (".",)), (1, ()), (20, ("\n",)), (40, ()), (8, (",",)), (25, ())]


def requests(temperature=0.8, seed=7):
    return [Request(({"role": "user", "content": f"Write two sentences about {topic}."},), temperature=temperature,
                    max_tokens=max_tokens, stop=stop, seed=seed + i)
            for i, (topic, (max_tokens, stop)) in enumerate(zip(TOPICS, LIMITS))]


def complete_all(backend_args, batches):
    """Each batch of requests sent at once (gather), batches one after another, on one backend."""
    async def go():
        backend = EmbeddedBackend(**backend_args)
        await backend.start()
        try:
            results = [await asyncio.gather(*(backend.complete(r) for r in batch)) for batch in batches]
            counts = [await backend.count_prompt_tokens(r) for r in batches[0]]
            engine = backend._engine
            return results, counts, (engine.moves, engine.copies) if engine else (0, 0)
        finally:
            await backend.close()

    return asyncio.run(go())


def test_eight_concurrent_requests_complete_with_their_own_limits_and_usage():
    reqs = requests()
    (responses,), counts, _ = complete_all({"parallel": 8}, [reqs])
    for request, response, prompt_tokens in zip(reqs, responses, counts):
        assert response.text.strip(), request
        assert response.usage.prompt_tokens == prompt_tokens
        assert 0 < response.usage.completion_tokens <= request.max_tokens
        assert not any(s in response.text for s in request.stop)
        if response.finish_reason == "length":
            assert response.usage.completion_tokens == request.max_tokens
        else:
            assert response.finish_reason == "stop"
    assert responses[3].usage.completion_tokens == 1 and responses[3].finish_reason == "length"


def test_same_seed_same_text_whatever_shares_the_batch():
    reqs = requests()
    again = list(reversed(reqs))
    (first, second, alone), _, _ = complete_all({"parallel": 8}, [reqs, again, reqs[2:5]])
    assert [r.text for r in first] == [r.text for r in reversed(second)]
    assert [r.text for r in first[2:5]] == [r.text for r in alone]
    assert len({r.text for r in first}) == len(first)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_batched_text_equals_the_unbatched_path(temperature):
    reqs = requests(temperature)
    (batched,), _, (moves, copies) = complete_all({"parallel": 4}, [reqs])
    (unbatched,), _, _ = complete_all({"parallel": 1}, [reqs])
    assert moves > 0, "no sequence was moved down a slot: the copy was not exercised"
    assert 0 < copies < len(reqs), "every sequence copied the preamble: slots did not keep it"
    assert [r.to_dict() for r in batched] == [r.to_dict() for r in unbatched]


def test_the_engine_accounts_for_every_step_it_decodes():
    reqs = requests()

    async def go(together):
        backend = EmbeddedBackend(parallel=8)
        await backend.start()
        try:
            if together:
                responses = await asyncio.gather(*(backend.complete(r) for r in reqs))
            else:
                responses = [await backend.complete(r) for r in reqs]
            return responses, backend._engine.timing, backend.engine_stats()
        finally:
            await backend.close()

    async def idle():
        backend = EmbeddedBackend(parallel=8)
        await backend.start()
        try:
            return backend.engine_stats()
        finally:
            await backend.close()

    assert asyncio.run(idle()) is None, "an engine that decoded nothing has nothing to report"
    for together in (True, False):
        responses, timing, figures = asyncio.run(go(together))
        completion = sum(r.usage.completion_tokens for r in responses)
        sampled = timing.generated + timing.prompt_step_tokens
        assert completion <= sampled <= completion + len(reqs), "a sampled token was not counted (or twice)"
        assert timing.prompt_steps == len(reqs), "one prompt per step, each fitting one chunk"
        assert 0 < timing.prompt_tokens < sum(r.usage.prompt_tokens for r in responses), "the preamble is shared"
        assert figures["steps"] == timing.generate_steps + timing.prompt_steps and figures["parallel"] == 8
        width = figures["mean_sequences_per_step"]
        assert (width > 2) if together else (width == 1.0), (together, width)


def test_parallel_one_is_the_unbatched_path():
    backend = EmbeddedBackend.from_spec(BackendSpec(kind="embedded", options={"parallel": 1}))
    asyncio.run(backend.start())
    try:
        assert backend._engine is None
    finally:
        asyncio.run(backend.close())
    assert EmbeddedBackend.from_spec(BackendSpec(kind="embedded")).parallel == 8


def test_prompt_too_long_for_a_slot_is_a_typed_error_and_the_others_finish():
    async def go():
        backend = EmbeddedBackend(n_ctx=64, parallel=4)
        await backend.start()
        try:
            short = backend.complete(Request(({"role": "user", "content": "Say hi."},), max_tokens=4, seed=1))
            long = backend.complete(Request(({"role": "user", "content": "word " * 200},), max_tokens=8))
            return await asyncio.gather(short, long, return_exceptions=True)
        finally:
            await backend.close()

    short, long = asyncio.run(go())
    assert isinstance(long, ContextTooLong)
    assert short.text and short.usage.completion_tokens <= 4


def test_structured_output_is_grammar_constrained_in_the_batch():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    reqs = [Request(({"role": "user", "content": f"Invent a person who likes {t}, as JSON."},), temperature=0.8,
                    max_tokens=60, seed=i, response_format=fmt) for i, t in enumerate(TOPICS[:4])]
    (responses,), _, _ = complete_all({"parallel": 4}, [reqs])
    for response in responses:
        data = json.loads(response.text)
        assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_cancelled_request_frees_its_slot():
    async def go():
        backend = EmbeddedBackend(parallel=2)
        await backend.start()
        try:
            doomed = asyncio.create_task(backend.complete(
                Request(({"role": "user", "content": "Write a long story."},), max_tokens=400, seed=1)))
            await asyncio.sleep(0.5)
            doomed.cancel()
            reqs = [Request(({"role": "user", "content": f"Say {w}."},), max_tokens=5, seed=2) for w in ("hi", "yes")]
            done = await asyncio.wait_for(asyncio.gather(*(backend.complete(r) for r in reqs)), 120)
            return doomed, done, backend._engine.admitted
        finally:
            await backend.close()

    doomed, done, admitted = asyncio.run(go())
    assert doomed.cancelled() and all(r.text for r in done) and admitted == []


def test_a_kept_preamble_is_only_reused_by_the_same_preamble():
    """Slots keep the chat template's preamble between sequences; another system prompt must not start from it."""
    plain = requests()[:4]
    system = [Request(({"role": "system", "content": "You answer like a pirate."}, *r.messages), temperature=r.temperature,
                      max_tokens=r.max_tokens, stop=r.stop, seed=r.seed) for r in plain]
    batches = [plain, system, plain, system[:1] + plain[1:2]]
    batched, _, (_, copies) = complete_all({"parallel": 2}, batches)
    unbatched, _, _ = complete_all({"parallel": 1}, batches)
    assert [[r.to_dict() for r in b] for b in batched] == [[r.to_dict() for r in b] for b in unbatched]
    assert [r.text for r in batched[0]] != [r.text for r in batched[1]]
    assert copies < sum(map(len, batches))


def test_flash_attention_is_an_option_of_both_paths():
    """On by default (faster on CPU too: bench_embedded_batch.py); both contexts use the same kernels."""
    import llama_cpp

    async def go(options):
        backend = EmbeddedBackend.from_spec(BackendSpec(kind="embedded", options={"parallel": 2, **options}))
        await backend.start()
        try:
            return backend._llama.context_params.flash_attn_type, backend._engine.ctx.params.flash_attn_type
        finally:
            await backend.close()

    on, off = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED, llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    assert asyncio.run(go({})) == (on, on)
    assert asyncio.run(go({"flash_attn": False})) == (off, off)
