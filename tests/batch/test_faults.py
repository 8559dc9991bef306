"""Bad input and provider faults in batch mode: one line and exit 2 where the run cannot go on,
nothing stored lost, and the re-run continues without submitting a finished request again."""

from __future__ import annotations

import json

import pytest

from .helpers import PRICES, batch_recipe, batches_in_store, run_batch, standin

N = 12
FAST = "{collect_seconds: 0.2, poll_interval: 0.05, poll_max: 0.2, grace_seconds: 0}"


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    # the generator-terms warning (issue 19) may come first: the error itself is one line
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("synthloom: warning:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_invalid_key_is_one_line(provider, tmp_path):
    with standin(provider) as server:
        line = one_line_error(run_batch(provider, batch_recipe(tmp_path, provider), N, tmp_path / "o", server, key="sk-wrong"))
    assert "refused the API key" in line and "sk-wrong" not in line
    assert server.ledger.batches_created == 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_model_the_batch_endpoint_does_not_serve_stops_the_run_and_a_fixed_rerun_completes(provider, tmp_path):
    recipe = batch_recipe(tmp_path, provider)
    with standin(provider) as server:
        served = server.batch_models if provider == "openai" else None
        if provider == "openai":
            server.batch_models = {"some-other-model"}
            line = one_line_error(run_batch(provider, recipe, N, tmp_path / "o", server))
            assert "not supported by the Batch API" in line
            server.batch_models = served
        else:
            server.models = {"some-other-model"}
            line = one_line_error(run_batch(provider, recipe, N, tmp_path / "o", server))
            assert "refused every request" in line and "not_found_error" in line
            server.models = {"claude-haiku-4-5"}
        assert run_batch(provider, recipe, N, tmp_path / "o", server).returncode == 0
    assert len((tmp_path / "o" / "dataset.jsonl").read_text().splitlines()) == N


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_file_over_the_providers_limit_is_one_line_and_a_smaller_limit_finishes(provider, tmp_path):
    with standin(provider) as server:
        server.faults.max_bytes = 3000
        too_big = batch_recipe(tmp_path, provider, "{collect_seconds: 0.2, poll_interval: 0.05, max_bytes: 100000}")
        line = one_line_error(run_batch(provider, too_big, N, tmp_path / "o", server))
        assert f"refused a batch of {N} requests" in line and "story" in line
        fits = batch_recipe(tmp_path, provider, "{collect_seconds: 0.2, poll_interval: 0.05, max_bytes: 2500}")
        result = run_batch(provider, fits, N, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / "o" / "run.json").read_text())
        assert summary["kept"] == N and summary["batches"]["submitted"] > 2  # split to fit
        assert max(server.ledger.submissions.values()) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_5xx_on_upload_is_retried_without_double_submission(provider, tmp_path):
    with standin(provider) as server:
        server.faults.upload_5xx = 2
        result = run_batch(provider, batch_recipe(tmp_path, provider), N, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        assert max(server.ledger.submissions.values()) == 1 and sum(server.ledger.submissions.values()) == 2 * N
        summary = json.loads((tmp_path / "o" / "run.json").read_text())
        assert summary["this_run"]["retries"] >= N and summary["kept"] == N
        assert [b["state"] for b in summary["batches"]["batches"]].count("abandoned") == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_failed_expired_and_cancelled_lines_are_sent_again_and_only_they(provider, tmp_path):
    with standin(provider) as server:
        failed: set[str] = set()

        def fail_two(custom_id: str) -> bool:  # the first two lines seen fail, once each
            if len(failed) < 2 and custom_id not in failed:
                failed.add(custom_id)
                return True
            return False

        server.faults.failed_lines = fail_two
        server.faults.expire, server.faults.done_before_expiry = 1, 5
        result = run_batch(provider, batch_recipe(tmp_path, provider), N, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        assert max(server.ledger.billed.values()) == 1, "a finished request was paid for twice"
        assert len(server.ledger.billed) == 2 * N
        sent_twice = [cid for cid, count in server.ledger.submissions.items() if count > 1]
        assert len(sent_twice) == (N - 5) + 2  # the lines the expiry left, and the two that failed
        server.faults.cancel, server.faults.done_before_expiry = 1, 3
        result = run_batch(provider, batch_recipe(tmp_path, provider), N + 6, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        assert max(server.ledger.billed.values()) == 1 and len(server.ledger.billed) == 2 * (N + 6)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_malformed_output_lines_warn_and_only_those_requests_go_again(provider, tmp_path):
    with standin(provider) as server:
        server.faults.malformed_lines = 3
        result = run_batch(provider, batch_recipe(tmp_path, provider), N, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        assert "3 output line(s) unreadable" in result.stderr
        assert sorted(server.ledger.submissions.values()).count(2) == 3 and len(server.ledger.submissions) == 2 * N
        assert len((tmp_path / "o" / "dataset.jsonl").read_text().splitlines()) == N


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_that_never_finishes_within_its_window_stops_the_run_and_the_rerun_collects_it(provider, tmp_path):
    recipe = batch_recipe(tmp_path, provider, FAST)
    with standin(provider) as server:
        server.faults.never_finish, server.faults.window_seconds = True, 0
        line = one_line_error(run_batch(provider, recipe, N, tmp_path / "o", server))
        assert "has not finished within its completion_window (24h)" in line and "run the same command later" in line
        assert [state for _, _, state in batches_in_store(tmp_path / "o")] == ["submitted"]
        server.faults.never_finish = False
        result = run_batch(provider, recipe, N, tmp_path / "o", server)
        assert result.returncode == 0, result.stderr
        assert max(server.ledger.submissions.values()) == 1
        summary = json.loads((tmp_path / "o" / "run.json").read_text())
        assert summary["batches"]["resumed"] == 1 and summary["kept"] == N
        assert summary["cost"]["paid"]["dollars"] == pytest.approx(server.ledger.bill(PRICES))


def test_a_budget_stops_batch_submission_and_a_higher_one_finishes_without_paying_twice(tmp_path):
    recipe = batch_recipe(tmp_path, "openai")
    with standin("openai") as server:
        result = run_batch("openai", recipe, 40, tmp_path / "o", server, "--budget", "0.000003")
        assert result.returncode == 0, result.stderr
        stopped = json.loads((tmp_path / "o" / "run.json").read_text())
        assert stopped["cost"]["budget"]["reached"] and stopped["kept"] < 40
        result = run_batch("openai", recipe, 40, tmp_path / "o", server, "--budget", "1")
        assert result.returncode == 0, result.stderr
        assert max(server.ledger.submissions.values()) == 1
        summary = json.loads((tmp_path / "o" / "run.json").read_text())
        assert summary["kept"] == 40 and summary["cost"]["paid"]["dollars"] == pytest.approx(server.ledger.bill(PRICES))


def test_a_batch_recipe_dry_runs_online_and_batch_needs_a_batch_api(tmp_path):
    recipe = batch_recipe(tmp_path, "openai")
    from tests.conftest import run_cli

    assert run_cli("run", recipe, "-n", 3, "--dry-run", "--quiet", "--out", tmp_path / "dry").returncode == 0
    line = one_line_error(run_cli("run", recipe, "-n", 3, "--backend", "fake", "--quiet", "--out", tmp_path / "fake"))
    assert "--batch needs a backend with a batch API" in line
