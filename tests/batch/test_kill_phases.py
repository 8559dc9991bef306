"""kill -9 a batch-mode run at each phase, then the same command: no request is submitted twice
(the stand-in counts lines by custom_id) and the dataset equals an uninterrupted run's."""

from __future__ import annotations

import json

import pytest

from .helpers import FAST, MODELS, PRICES, batch_recipe, batches_in_store, hold, kill, release, run_batch, standin, start_batch, wait_until

N = 30


def uninterrupted(provider: str, recipe, tmp_path) -> str:
    with standin(provider) as server:
        result = run_batch(provider, recipe, N, tmp_path / "clean", server)
        assert result.returncode == 0, result.stderr
    return (tmp_path / "clean" / "dataset.jsonl").read_text()


def finish_and_check(provider: str, recipe, tmp_path, server, strangers: int = 0, strangers_bill: float = 0.0) -> None:
    out = tmp_path / "killed"
    rerun = run_batch(provider, recipe, N, out, server)
    assert rerun.returncode == 0, rerun.stderr
    assert max(server.ledger.submissions.values()) == 1, "a request was submitted twice"
    assert sum(server.ledger.submissions.values()) == 2 * N + strangers  # every request of both stages, once
    assert (out / "dataset.jsonl").read_text() == uninterrupted(provider, recipe, tmp_path)
    summary = json.loads((out / "run.json").read_text())
    assert summary["cost"]["paid"]["dollars"] == pytest.approx(server.ledger.bill(PRICES) - strangers_bill)
    assert all(state in ("collected", "abandoned") for _, _, state in batches_in_store(out))


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_kill_during_upload(provider, tmp_path):
    recipe = batch_recipe(tmp_path, provider)
    with standin(provider) as server:
        hold(server, "upload")
        proc = start_batch(provider, recipe, N, tmp_path / "killed", server)
        wait_until(lambda: "upload" in server.faults.held)
        kill(proc)
        release(server, "upload")
        assert [state for _, _, state in batches_in_store(tmp_path / "killed")] == ["recorded"]
        assert server.ledger.batches_created == 0
        finish_and_check(provider, recipe, tmp_path, server)


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("max_lines", [None, 10])
def test_kill_between_create_and_saving_the_id(provider, max_lines, tmp_path):
    """With max_lines 10 three batches of one size are lost at once: each must find its own."""
    settings = FAST.replace("}", f", max_lines: {max_lines}}}") if max_lines else FAST
    recipe = batch_recipe(tmp_path, provider, settings)
    lost = N // (max_lines or N)
    with standin(provider) as server:
        hold(server, "create")
        proc = start_batch(provider, recipe, N, tmp_path / "killed", server)
        wait_until(lambda: "create" in server.faults.held and server.ledger.batches_created == lost)
        kill(proc)
        release(server, "create")
        assert [(batch_id, state) for _, batch_id, state in batches_in_store(tmp_path / "killed")] == [(None, "recorded")] * lost
        finish_and_check(provider, recipe, tmp_path, server)
        assert server.ledger.batches_created == 2 * lost  # the lost ones found again, then the second stage's


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_kill_while_polling(provider, tmp_path):
    recipe = batch_recipe(tmp_path, provider)
    with standin(provider) as server:
        server.faults.completion_seconds = 3600
        proc = start_batch(provider, recipe, N, tmp_path / "killed", server)
        wait_until(lambda: any(batch_id for _, batch_id, _ in batches_in_store(tmp_path / "killed")))
        kill(proc)
        server.faults.completion_seconds = 0
        finish_and_check(provider, recipe, tmp_path, server)


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_kill_while_downloading(provider, tmp_path):
    recipe = batch_recipe(tmp_path, provider)
    with standin(provider) as server:
        hold(server, "content")
        proc = start_batch(provider, recipe, N, tmp_path / "killed", server)
        wait_until(lambda: "content" in server.faults.held)
        kill(proc)
        release(server, "content")
        assert [state for _, _, state in batches_in_store(tmp_path / "killed")] == ["submitted"]
        finish_and_check(provider, recipe, tmp_path, server)


def test_batch_run_matches_an_online_run_and_costs_the_bill_at_batch_prices(tmp_path):
    recipe = batch_recipe(tmp_path, "openai")
    online_recipe = tmp_path / "online.yaml"
    online_recipe.write_text(recipe.read_text().replace("batch: true", "batch: false"))
    with standin("openai") as server:
        result = run_batch("openai", recipe, N, tmp_path / "batch", server)
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / "batch" / "run.json").read_text())
        assert summary["cost"]["paid"]["dollars"] == pytest.approx(server.ledger.bill(PRICES))
        assert server.ledger.online_requests == 0 and server.ledger.batches_created == 2
        assert run_batch("openai", online_recipe, N, tmp_path / "online", server).returncode == 0
    assert summary["batches"]["submitted"] == 2 and summary["batches"]["requests_done"] == 2 * N
    assert [b["stage"] for b in summary["batches"]["batches"]] == ["story", "title"]
    assert (tmp_path / "batch" / "dataset.jsonl").read_text() == (tmp_path / "online" / "dataset.jsonl").read_text()
    batch_cost = summary["cost"]["paid"]["dollars"]
    online_cost = json.loads((tmp_path / "online" / "run.json").read_text())["cost"]["paid"]["dollars"]
    assert batch_cost == pytest.approx(online_cost / 2)


@pytest.mark.slow
def test_a_lost_anthropic_batch_is_told_apart_from_a_same_sized_stranger(tmp_path):
    """Message Batches carry no tag: the lost id is guessed by size and time and proved by custom_ids."""
    import anthropic

    from tests.providers.serve import KEY

    recipe = batch_recipe(tmp_path, "anthropic")
    with standin("anthropic") as server:
        hold(server, "create")
        proc = start_batch("anthropic", recipe, N, tmp_path / "killed", server)
        wait_until(lambda: "create" in server.faults.held)
        kill(proc)
        release(server, "create")
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        stranger = client.messages.batches.create(requests=[
            {"custom_id": f"someone-else-{i}", "params": {"model": MODELS["anthropic"], "max_tokens": 5,
                                                          "messages": [{"role": "user", "content": f"hi {i}"}]}}
            for i in range(N)])
        assert client.messages.batches.retrieve(stranger.id).processing_status == "ended"
        finish_and_check("anthropic", recipe, tmp_path, server, strangers=N, strangers_bill=server.ledger.bill(PRICES))
        assert server.ledger.submissions["someone-else-0"] == 1
        rows = {batch_id: state for _, batch_id, state in batches_in_store(tmp_path / "killed")}
        assert stranger.id not in rows and sorted(rows.values()) == ["collected", "collected"]
