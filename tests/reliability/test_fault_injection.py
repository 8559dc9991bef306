"""A run against a server that answers 20% of requests with faults: it finishes, every record is
accounted for, nothing is paid for twice, and each fault ends the way the pipeline's rules say.

The faults (tests/reliability/fault_server.py): 429 with Retry-After, 500, 503 with an HTML page,
a dropped connection, a stall past the client's timeout, a truncated body, a 200 HTML page, an
empty completion ("" or null) and a completion cut at max_tokens. The first seven are retried;
the last two are complete, billed answers: an empty one is rejected as `empty_output` by the
stage, a cut one is kept by the stage and rejected as `truncated` by the recipe's curate step.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from synthloom.backends.base import BadResponse, ServerError, Usage
from synthloom.backends.openai_wire import parse_completion, status_error
from tests.conftest import run_cli
from tests.reliability.fault_server import DELIVERED, FAULTS, HTML_PAGE, RETRYABLE, FaultPlan, FaultServer, KeyLedger, completion_body, echo

RECIPE = """\
name: faults
seed: 11
entities:
  nouns: [cat, dog, tree, river, cake, lamp, boat]
  verbs: [jump, sing, hide]
slots:
  noun: {from: nouns, sampler: coverage}
  verb: verbs
stages:
  - name: story
    prompt: "Record {{ index }}: write about a {{ noun }} that can {{ verb }}."
    params: {max_tokens: 40}
  - name: title
    prompt: "Title for record {{ index }}: {{ story }}"
    params: {max_tokens: 12}
curate:
  - {kind: truncated, name: cut}
"""
PROMPTS = {"story": re.compile(r"Record (\d+): "), "title": re.compile(r"Title for record (\d+): ")}
TIMEOUT = 1.0  # --timeout: what a stalled request costs
MAX_ATTEMPTS = 3  # low enough that a few requests use up their retries (20% faults: ~0.4% of keys)
# the reason a record gets when a request's last retryable fault used up its attempts
EXHAUSTED = {"rate_limited": {"rate_limited"}, "server_error": {"server_error"}, "unavailable": {"server_error"},
             "dropped": {"server_error"}, "timeout": {"timeout"}, "truncated": {"server_error", "bad_response"},
             "html": {"bad_response"}, "abandoned": {"timeout"}}


def synthloom_run(recipe: Path, out: Path, url: str, n: int, *extra: str):
    return run_cli("run", recipe, "-n", n, "--out", out, "--backend", "openai", "--base-url", url, "--model", "m",
                   "--timeout", TIMEOUT, "--concurrency", 16, "--quiet", *extra, timeout=240)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def index_of(row: dict) -> int:
    return row["index"] if "index" in row else int(row["id"].rsplit("-", 1)[1])


def calls_by_record(ledger: dict[str, KeyLedger]) -> dict[tuple[str, int], KeyLedger]:
    """(stage, record index) → the ledger of the one request key that stage made for that record."""
    calls: dict[tuple[str, int], KeyLedger] = {}
    for entry in ledger.values():
        stage, index = next((s, int(m.group(1))) for s, p in PROMPTS.items() if (m := p.match(entry.prompt)))
        assert (stage, index) not in calls, f"record {index} sent two different {stage} requests"
        calls[(stage, index)] = entry
    return calls


def ending(entry: KeyLedger) -> str:
    """What the client finally got for one key: a delivered kind, or "exhausted"."""
    if entry.delivered:
        return entry.outcomes[-1]
    assert len(entry.outcomes) >= MAX_ATTEMPTS and all(o in RETRYABLE or o == "abandoned" for o in entry.outcomes), \
        f"{entry.prompt!r}: gave up after {entry.outcomes} without a delivered answer or {MAX_ATTEMPTS} faults"
    return "exhausted"


def expected_outcome(index: int, calls: dict[tuple[str, int], KeyLedger]) -> tuple:
    """What the pipeline's rules make of a record, from what the server gave each of its calls:
    ("kept", story, title) or ("rejected", stage, {reasons}, transient)."""
    story, title = calls[("story", index)], calls.get(("title", index))
    story_end = ending(story)
    if story_end in ("exhausted", "empty"):
        assert title is None, f"record {index}: a title was asked for although its story was {story_end}"
        return rejection("story", story, story_end)
    assert title is not None, f"record {index}: no title was asked for after a {story_end!r} story"
    title_end = ending(title)
    if title_end in ("exhausted", "empty"):
        return rejection("title", title, title_end)
    if "length" in (story_end, title_end):
        return ("rejected", "cut", {"truncated"}, False)
    return ("kept", echo(story.prompt), echo(title.prompt))


def rejection(stage: str, entry: KeyLedger, end: str) -> tuple:
    if end == "empty":
        return ("rejected", stage, {"empty_output"}, False)
    return ("rejected", stage, EXHAUSTED[entry.outcomes[-1]], True)


def test_a_run_survives_20_percent_faults_paying_once_per_request(tmp_path):
    n = 1000
    recipe, out = tmp_path / "recipe.yaml", tmp_path / "out"
    recipe.write_text(RECIPE, encoding="utf-8")
    plan = FaultPlan(rate=0.2, seed=3, retry_after=(0.05, 0.3), stall=TIMEOUT + 1.0, max_seconds=200)
    started = time.monotonic()
    with FaultServer(plan) as server:
        result = synthloom_run(recipe, out, server.url, n, "--max-attempts", str(MAX_ATTEMPTS))
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and not server.expired
    figures = server.figures()

    # every fault kind happened, at about the planned share
    assert set(server.faults) == set(FAULTS) and min(server.faults.values()) > 0, figures
    assert 0.15 < sum(server.faults.values()) / server.requests < 0.25, figures

    # exactly-once spend: no key was delivered twice, and nothing was asked again after a delivery
    ledger = server.ledger
    twice = [e.prompt for e in ledger.values() if e.delivered > 1]
    assert not twice, f"{len(twice)} requests were paid for twice, e.g. {twice[:2]}"
    after = [e.outcomes for e in ledger.values() if e.delivered and e.outcomes[-1] not in DELIVERED]
    assert not after, f"asked again after a delivered answer: {after[:3]}"
    delivered_keys = sum(1 for e in ledger.values() if e.delivered)
    summary = json.loads((out / "run.json").read_text())
    assert summary["cost"]["paid"]["requests"] == delivered_keys == figures["delivered"], "stored responses ≠ answers paid"
    assert summary["this_run"]["requests_sent"] == server.requests

    # a 429's Retry-After is honoured: the next attempt of that request came no sooner
    early = [(e.prompt, round(e.arrived[i + 1] - e.arrived[i], 3), wait) for e in ledger.values()
             for i, wait in e.retry_after.items() if i + 1 < len(e.arrived) and e.arrived[i + 1] - e.arrived[i] < wait - 0.01]
    assert not early, f"retried before Retry-After: {early[:3]}"

    # retries: one per failed attempt, except each request's last when its attempts ran out
    calls = calls_by_record(ledger)
    exhausted = sum(1 for e in ledger.values() if not e.delivered)
    failed_attempts = sum(1 for e in ledger.values() for o in e.outcomes if o in RETRYABLE or o == "abandoned")
    assert summary["this_run"]["retries"] == failed_attempts - exhausted

    # every record is in dataset.jsonl or rejected.jsonl, once, as the rules say
    kept = {index_of(r): r for r in read_jsonl(out / "dataset.jsonl")}
    rejected_rows = read_jsonl(out / "rejected.jsonl")
    rejected = {index_of(r): r for r in rejected_rows}
    assert len(kept) + len(rejected_rows) == n and set(kept) | set(rejected) == set(range(n))
    reasons = Counter()
    for index in range(n):
        want = expected_outcome(index, calls)
        if want[0] == "kept":
            assert index in kept, f"record {index} should be kept, got {rejected.get(index)}"
            assert (kept[index]["story"], kept[index]["title"]) == want[1:], f"record {index}: wrong text kept"
            continue
        _, stage, allowed, transient = want
        row = rejected.get(index)
        assert row is not None, f"record {index} should be rejected at {stage} ({allowed}), but was kept"
        assert (row["stage"], row["reason"] in allowed, row["transient"]) == (stage, True, transient), (index, want, row)
        assert row["detail"] and "\n" not in row["detail"] and "Traceback" not in row["detail"], row["detail"]
        reasons[row["reason"]] += 1
    assert summary["kept"] == len(kept) and summary["rejected"] == len(rejected_rows)
    assert summary["this_run"]["failure_reasons"] == dict(reasons)
    assert reasons["empty_output"] > 0 and reasons["truncated"] > 0
    print(f"\nfault injection, {n} records, {seconds:.1f}s: server {figures}; kept {len(kept)}, "
          f"rejected {dict(reasons)}; retries {summary['this_run']['retries']}; "
          f"concurrency {summary['this_run'].get('concurrency')}")


def test_rerun_of_a_finished_directory_sends_nothing(tmp_path):
    n = 150
    recipe, out = tmp_path / "recipe.yaml", tmp_path / "out"
    recipe.write_text(RECIPE, encoding="utf-8")
    with FaultServer(FaultPlan(rate=0.2, seed=5, retry_after=(0.05, 0.2), stall=TIMEOUT + 1.0, max_seconds=120)) as server:
        first = synthloom_run(recipe, out, server.url, n)
        assert first.returncode == 0, first.stderr
        assert not any(not e.delivered for e in server.ledger.values()), "a request used up its 6 attempts"
        sent, dataset = server.requests, (out / "dataset.jsonl").read_text()
        assert sent > len(server.ledger) >= n, "the faults should have cost retries"
        again = synthloom_run(recipe, out, server.url, n)
        assert again.returncode == 0, again.stderr
        assert server.requests == sent, f"the re-run sent {server.requests - sent} requests"
    summary = json.loads((out / "run.json").read_text())
    assert summary["this_run"]["requests_sent"] == 0 and summary["this_run"]["retries"] == 0
    assert summary["this_run"]["records"] == 0
    assert (out / "dataset.jsonl").read_text() == dataset


def test_each_faulty_body_is_one_typed_error_on_one_line():
    """What the openai backend makes of the bodies the server sends, without a run."""
    full = completion_body("echo: hi", "stop", {"messages": []})
    page = HTML_PAGE.format(status=503, title="Service Temporarily Unavailable").encode()
    for raw in (full[: len(full) // 2], HTML_PAGE.format(status=200, title="Welcome").encode(), b"",
                b'{"error": {"message": "busy\\ntry later"}}', b'{"choices": []}', b"[1, 2]"):
        with pytest.raises(BadResponse) as caught:
            parse_completion(raw)
        assert caught.value.retryable and "\n" not in str(caught.value), str(caught.value)
    null = parse_completion(b'{"choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "length"}]}')
    assert (null.text, null.finish_reason) == ("", "length"), "a null content is a delivered answer with no text"
    odd = parse_completion(b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "n/a"}}')
    assert odd.usage == Usage(0, 0)
    error = status_error(503, page, None)
    assert isinstance(error, ServerError) and str(error) == "HTTP 503: an HTML page titled '503 Service Temporarily Unavailable'"
    assert str(status_error(500, b"Traceback (most recent call last):\n  File x\nKeyError: 'a'\n", None)) == \
        "HTTP 500: Traceback (most recent call last): File x KeyError: 'a'"
