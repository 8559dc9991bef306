"""The native anthropic backend against the Messages API stand-in: JSON and streamed answers,
cache and thinking usage, typed errors with Retry-After, stop_reason mapped to finish_reason."""

from __future__ import annotations

import asyncio
import json

import pytest

from synthloom.backends.anthropic import AnthropicBackend
from synthloom.backends.anthropic_wire import error_for, parse_message
from synthloom.backends.base import AuthFailed, BadRequest, ContextTooLong, RateLimited, Request, ServerError
from synthloom.errors import ConfigError
from tests.conftest import run_cli
from tests.providers.anthropic_standin import anthropic_standin
from tests.providers.serve import KEY

MODEL = "claude-haiku-4-5"


def ask(backend: AnthropicBackend, *requests: Request):
    async def go():
        await backend.start()
        try:
            return [await backend.complete(r) for r in requests]
        finally:
            await backend.close()

    return asyncio.run(go())


def request(text: str, **params) -> Request:
    return Request(({"role": "system", "content": "You write very short stories for children."},
                    {"role": "user", "content": text}), **params)


@pytest.mark.parametrize("stream", [False, True])
def test_answers_with_cache_usage_and_thinking_kept_as_reasoning(stream):
    with anthropic_standin() as server:
        backend = AnthropicBackend(MODEL, server.base_url, KEY, stream=stream, cache_prefix=True)
        thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
        first, second, long = ask(backend, request("a cat", max_tokens=50), request("a dog", max_tokens=50, extra=thinking),
                                  request("one two three four five six", max_tokens=3))
    assert first.text.endswith("a cat") and first.finish_reason == "stop" and first.reasoning is None
    assert (first.usage.prompt_tokens, first.usage.cache_write_tokens, first.usage.cached_tokens) == (9, 7, 0)
    assert (second.usage.prompt_tokens, second.usage.cached_tokens) == (9, 7)
    assert second.reasoning == "The user asks about a dog" and second.text.endswith("a dog")
    assert long.finish_reason == "length"
    sent = server.headers_seen[-1]
    assert sent["anthropic-version"] == "2023-06-01"


def test_rate_limit_and_overload_carry_retry_after_and_a_refused_key_stops_at_start():
    with anthropic_standin() as server:
        server.faults.online = [(429, {"retry-after": "7"}), (529, {}), (500, {})]
        backend = AnthropicBackend(MODEL, server.base_url, KEY)

        async def go():
            await backend.start()
            errors = []
            for _ in range(3):
                try:
                    await backend.complete(request("x", max_tokens=5))
                except Exception as exc:  # noqa: BLE001 - collected to check their types
                    errors.append(exc)
            await backend.close()
            return errors

        limited, overloaded, failed = asyncio.run(go())
        assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
        assert isinstance(overloaded, RateLimited) and "529" in str(overloaded)
        assert isinstance(failed, ServerError)
        with pytest.raises(ConfigError, match="refused the API key"):
            asyncio.run(AnthropicBackend(MODEL, server.base_url, "sk-wrong").start())


def test_error_bodies_map_to_typed_errors():
    assert isinstance(error_for(400, "prompt is too long: 210000 tokens > 200000 maximum",
                                {"type": "error", "error": {"type": "invalid_request_error"}}), ContextTooLong)
    assert isinstance(error_for(404, "model: nope", {"error": {"type": "not_found_error"}}), BadRequest)
    assert isinstance(error_for(403, "no", {"error": {"type": "permission_error"}}), AuthFailed)
    assert isinstance(error_for(0, "Overloaded", {"type": "error", "error": {"type": "overloaded_error"}}), RateLimited)
    refusal = parse_message({"content": [{"type": "text", "text": ""}], "stop_reason": "refusal", "usage": {}})
    assert refusal.finish_reason == "content_filter"


def test_a_two_stage_run_through_the_cli_costs_what_the_standin_bills(write_recipe, tmp_path):
    recipe = write_recipe()
    prices = {MODEL: {"input": 1.0, "output": 5.0, "cached_input": 0.1, "cache_write": 1.25}}
    with anthropic_standin() as server:
        price_yaml = tmp_path / "with_prices.yaml"
        price_yaml.write_text(recipe.read_text() + f"prices: {json.dumps(prices)}\n")
        result = run_cli("run", price_yaml, "-n", 6, "--backend", "anthropic", "--model", MODEL, "--base-url", server.base_url,
                         "--quiet", "--out", tmp_path / "out", env={"ANTHROPIC_API_KEY": KEY})
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / "out" / "run.json").read_text())
        assert summary["kept"] == 6 and server.ledger.online_requests == 12
        assert summary["cost"]["paid"]["dollars"] == pytest.approx(server.ledger.bill(prices))
        assert KEY not in (tmp_path / "out" / "run.json").read_text()
