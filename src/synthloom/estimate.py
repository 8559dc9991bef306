"""`synthloom estimate`: what a run will cost, before it is paid for.

Prompt tokens are counted from the prompts themselves: the recipe runs on a sample of its
records (all of them up to `sample`) against a stand-in backend that answers like the fake one
but bills nothing, while the real backend's tokenizer counts every rendered prompt (llama.cpp's
template and vocabulary for the embedded model, the server's tokenize endpoint for an
OpenAI-compatible one, words for the fake). Output tokens are max_tokens per call (an upper
bound), or, with a pilot, the mean each stage produced on `pilot` real records; the stand-in's
answers are sized to match, so later stages' prompts that quote earlier answers are as long as
they will be. The totals are scaled from the sample to n.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .backends.base import Backend, BackendBase, Request, Response, Usage
from .backends.fake import FakeBackend
from .backends.tokens import prompt_tokens, text_tokens
from .cost.prices import PriceTable
from .errors import ConfigError
from .prepare.backends import close_all, start_all
from .prepare.directory import RunDirectory
from .prepare.plan import load_run_recipe, prepare_run
from .prepare.session import open_session
from .recipe.model import BackendSpec, Recipe
from .registry import Registry
from .runner import CURRENT_STAGE, DEFAULT, Runner, RunOptions
from .store import Store

__all__ = ["estimate", "estimate_async", "Estimate", "StageEstimate"]

FILLER = ("the review mentions how it tasted and what it cost and whether the package arrived in good "
          "shape so that a reader can decide if it is worth buying again next time").split()


@dataclass
class StageEstimate:
    """One stage: calls per record, tokens per call, and the totals for n records."""

    calls_per_record: float
    prompt_tokens_per_call: float
    completion_tokens_per_call: float
    completion_source: str  # "max_tokens" (an upper bound), "pilot", "fake" or "unknown"
    calls: float = 0.0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    cost: float | None = None
    batch_cost: float | None = None  # the same tokens through a provider's batch API
    shared_prefix_tokens: float = 0.0  # prompt tokens before the last message: what a prompt cache can serve


@dataclass
class Estimate:
    """The whole run: per stage, totals, and how the figures were made."""

    recipe: str
    n: int
    sampled: int
    counting: str
    stages: dict[str, StageEstimate] = field(default_factory=dict)
    setup: dict[str, Any] | None = None  # topic tree growing: calls and tokens, once per run
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    cost: float | None = None
    prices: str | None = None
    pilot: dict[str, Any] | None = None
    batch_cost: float | None = None
    caching_saves: float | None = None  # dollars saved if every shared prefix were read from the cache (cached_input price)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SizingBackend(BackendBase):
    """Answers like the fake backend, bills nothing, and reports the real backend's token counts.

    `sizes` gives each stage's expected output tokens (from a pilot); without one a free-text
    answer is max_tokens long. Against a backend whose answers are free (the fake), its own
    answers are the truth.
    """

    name = "estimate"

    def __init__(self, counter: BackendBase | None, sizes: dict[str, float], words_per_token: float):
        self.counter = counter
        self.model_id = counter.model_id if counter is not None else "estimate"
        self.sizes = sizes
        self.words_per_token = words_per_token
        self.fake = FakeBackend(self.model_id)
        self.exact_fake = counter is not None and counter.answers_for_free
        self.sources: dict[str, str] = {}

    async def complete(self, request: Request) -> Response:
        stage = CURRENT_STAGE.get()
        reply = (await self.fake.complete(request)).text
        self.fake.requests.clear()
        prompt, _ = await prompt_tokens(self.counter, request)
        response = await self.answer(stage, request, reply, prompt)
        shared = shared_prefix(request, prompt)  # kept as cached tokens: what caching could serve
        return dataclasses.replace(response, usage=dataclasses.replace(response.usage, cached_tokens=shared))

    async def answer(self, stage: str, request: Request, reply: str, prompt: int) -> Response:
        if self.exact_fake:
            self.sources[stage] = "fake"
            return Response(reply, "stop", Usage(prompt, len(reply.split())), self.model_id)
        expected = self.sizes.get(stage)
        source = "pilot" if expected is not None else "max_tokens" if request.max_tokens else "unknown"
        if expected is None:
            expected = request.max_tokens
        self.sources[stage] = source
        if expected is None:  # no bound: count the stand-in's own answer
            return Response(reply, "stop", Usage(prompt, await text_tokens(self.counter, reply)), self.model_id)
        if request.response_format is None:
            reply = resized(reply, round(expected * self.words_per_token))
            tokens = await text_tokens(self.counter, reply)
            if tokens and abs(tokens - expected) > 0.05 * expected:  # one correction: echoed words tokenize unlike prose
                reply = resized(reply, round(len(reply.split()) * expected / tokens))
        return Response(reply, "stop", Usage(prompt, round(expected)), self.model_id)


def shared_prefix(request: Request, prompt: int) -> int:
    """The prompt tokens before the last message (system prompt, few-shot turns), by their share of characters."""
    sizes = [len(m["content"]) for m in request.messages]
    total = sum(sizes)
    return round(prompt * sum(sizes[:-1]) / total) if len(sizes) > 1 and total else 0


def resized(text: str, words: int) -> str:
    """The answer cut or padded with plain words to `words` words (what later prompts quote)."""
    have = text.split()
    if len(have) >= words:
        return " ".join(have[:max(words, 1)])
    pad = (FILLER * (words // len(FILLER) + 1))[: words - len(have)]
    return " ".join(have + pad)


def sample_indices(n: int, sample: int) -> list[int]:
    """All of 0..n-1 up to `sample`, else `sample` indices spread evenly over them."""
    if n <= sample:
        return list(range(n))
    return sorted({i * n // sample for i in range(sample)})


def stage_figures(store: Store, n: int) -> tuple[dict[str, dict[str, float]], int]:
    """Per stage: calls, prompt and completion tokens over the store's records (kept and rejected)."""
    figures: dict[str, dict[str, float]] = defaultdict(lambda: {"calls": 0, "prompt": 0, "completion": 0, "shared": 0})
    records = 0
    for text in store.iter_call_texts(n):
        records += 1
        for call in orjson.loads(text):
            stage = figures[call.get("stage", "?")]
            usage = call.get("usage") or {}
            stage["calls"] += 1
            stage["prompt"] += usage.get("prompt_tokens") or 0
            stage["completion"] += usage.get("completion_tokens") or 0
            stage["shared"] += usage.get("cached_tokens") or 0
    return dict(figures), records


def estimate(recipe: Recipe | str | Path, n: int, **kwargs: Any) -> Estimate:
    """Sync form of `estimate_async` (scripts; in a notebook, await `estimate_async`)."""
    from .api import run_in_new_loop

    result: Estimate = run_in_new_loop(estimate_async(recipe, n, **kwargs))
    return result


async def estimate_async(
    recipe: Recipe | str | Path,
    n: int,
    *,
    backend: BackendSpec | Backend | None = None,
    prices: PriceTable | None = None,
    sample: int = 1000,
    pilot: int = 0,
    pilot_out: str | Path | None = None,
    registry: Registry | None = None,
    corpus: str | Path | None = None,
) -> Estimate:
    """Tokens and dollars for records 0..n-1 of `recipe`, before any is generated.

    `pilot` > 0 first runs that many records for real (into `pilot_out`, which a later
    `run --out` of the same directory reuses, or a temporary directory) and uses what each
    stage actually produced and how often it was called.
    """
    from .api import run_async
    from .sampling.data import records_for_run

    if n < 1 or sample < 1 or pilot < 0:
        raise ConfigError("-n and --sample must be at least 1, --pilot 0 or more")
    recipe = load_run_recipe(recipe)
    prices = prices if prices is not None else PriceTable.for_run(recipe)
    with tempfile.TemporaryDirectory(prefix="synthloom-estimate-") as tmp:
        pilot_info, sizes, pilot_calls = None, {}, {}
        if pilot:
            pilot_dir = Path(pilot_out) if pilot_out else Path(tmp) / "pilot"
            pilot_run = await run_async(recipe, pilot, pilot_dir, backend=backend, registry=registry,
                                        corpus=corpus, prices=prices)
            store = Store.open_dir(pilot_dir)
            try:
                figures, records = stage_figures(store, pilot)
            finally:
                store.close()
            sizes = {s: f["completion"] / f["calls"] for s, f in figures.items() if f["calls"]}
            pilot_calls = {s: f["calls"] / records for s, f in figures.items()} if records else {}
            pilot_info = {"records": pilot, "kept": pilot_run.kept, "rejected": pilot_run.rejected, "out": str(pilot_dir),
                          "dollars": (pilot_run.cost or {}).get("this_run", {}).get("dollars"),
                          "completion_tokens_per_call": sizes}
        with RunDirectory(Path(tmp) / "structure") as directory:
            plan = prepare_run(recipe, directory, backend=backend, registry=registry, corpus=corpus,
                               options=RunOptions(concurrency=8, max_attempts=1))
            records_for_run(n, plan.recipe, plan.entities)  # -n past the last row of an `each` slot is refused, as in run
            counters: dict[str, BackendBase | None] = dict(plan.backends)
            counting = await start_counters(counters)
            try:
                words_per_token = await calibrate(counters[DEFAULT])
                sizing: dict[str, BackendBase] = {name: SizingBackend(c, sizes, words_per_token) for name, c in counters.items()}
                async with open_session(plan.with_backends(sizing), directory) as session:
                    pipeline = await session.complete_pipeline()
                    stats = session.stats
                    setup = {"calls": stats.requests, "prompt_tokens": stats.prompt_tokens,
                             "completion_tokens": stats.completion_tokens} if stats.requests else None
                    indices = sample_indices(n, sample)
                    await Runner(pipeline, session.caller).run(indices)
                    figures, records = stage_figures(session.store, n)
            finally:
                await close_all(c for c in counters.values() if c is not None)
    sources: dict[str, str] = {}
    for s in sizing.values():
        assert isinstance(s, SizingBackend)
        sources.update(s.sources)
    result = Estimate(recipe.name, n, len(indices), counting, setup=setup, prices=prices.describe() or None, pilot=pilot_info)
    scale = n / max(records, 1)
    model = plan.model
    for stage, f in figures.items():
        calls_per_record = pilot_calls.get(stage, f["calls"] / max(records, 1))
        per_call_prompt = f["prompt"] / f["calls"] if f["calls"] else 0.0
        per_call_completion = f["completion"] / f["calls"] if f["calls"] else 0.0
        calls = calls_per_record * n if pilot_calls else f["calls"] * scale
        e = StageEstimate(round(calls_per_record, 4), round(per_call_prompt, 2), round(per_call_completion, 2),
                          sources.get(stage, "unknown"), round(calls, 1), round(calls * per_call_prompt),
                          round(calls * per_call_completion))
        e.shared_prefix_tokens = round(calls * (f["shared"] / f["calls"] if f["calls"] else 0.0))
        if prices:
            e.cost = prices.cost(model, int(e.prompt_tokens), int(e.completion_tokens))
            e.batch_cost = prices.cost(model, int(e.prompt_tokens), int(e.completion_tokens), batch=True)
        result.stages[stage] = e
    extra = setup or {"prompt_tokens": 0, "completion_tokens": 0}
    result.prompt_tokens = sum(e.prompt_tokens for e in result.stages.values()) + extra["prompt_tokens"]
    result.completion_tokens = sum(e.completion_tokens for e in result.stages.values()) + extra["completion_tokens"]
    if prices:
        result.cost = prices.cost(model, int(result.prompt_tokens), int(result.completion_tokens))
        result.batch_cost = prices.cost(model, int(result.prompt_tokens), int(result.completion_tokens), batch=True)
        price = prices.price(model)
        if price is not None and price.cached_input is not None and result.cost is not None:
            shared = int(sum(e.shared_prefix_tokens for e in result.stages.values()))
            cached = prices.cost(model, int(result.prompt_tokens), int(result.completion_tokens), shared)
            result.caching_saves = result.cost - (cached or 0.0)
    return result


async def start_counters(counters: dict[str, BackendBase | None]) -> str:
    """Start the real backends for their tokenizers; one that cannot start counts approximately."""
    try:
        await start_all({name: c for name, c in counters.items() if c is not None})
    except ConfigError as exc:
        for name in counters:
            counters[name] = None
        return f"approximate, 4 characters per token (the backend did not start: {exc})"
    default = counters[DEFAULT]
    assert default is not None
    await prompt_tokens(default, Request(({"role": "user", "content": "hello"},)))  # a server's tokenizer is found on first use
    return default.token_counting()


async def calibrate(counter: Any) -> float:
    """Words per token of the counter's tokenizer, to size stand-in answers in words."""
    text = " ".join(FILLER * 4)
    tokens = await text_tokens(counter, text)
    return len(text.split()) / max(tokens, 1)
