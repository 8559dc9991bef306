"""Batched generation on llama.cpp's low-level API: P sequences share one llama_decode per step.

A decode step reads all the weights whatever the number of tokens in it, so P sequences
decoded together cost less than P steps (on two cores, 8 tokens take about 3.6x the time of
one: 2.2x the tokens per second). The engine owns a second context on the already loaded
model, with one KV stream per slot (`kv_unified=False`): a sequence's cache cells then start
at 0 and stay contiguous, exactly as in a single-sequence context, which is what keeps outputs
a function of (prompt, seed) whatever else shares the batch. llama.cpp only batches streams
whose ids are consecutive, so a request always takes the lowest free slot.

Sampling mirrors `Llama.create_completion` step for step (same chain, same defaults, same stop,
EOS and max_tokens rules), so a sequence samples the same tokens as the unbatched path would
from the same logits. Everything here runs on the backend's llama.cpp thread except `submit`.
"""

from __future__ import annotations

import collections
import ctypes
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import BadResponse, ContextTooLong
from .step_timing import StepTiming

__all__ = ["BatchEngine", "Generation", "GenerationJob", "Preamble", "SamplingParams"]


@dataclass(frozen=True)
class SamplingParams:
    """The sampler chain's settings, with create_chat_completion's defaults."""

    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    grammar: Any = None  # a llama_cpp.LlamaGrammar


@dataclass(frozen=True)
class Generation:
    """One finished sequence."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class GenerationJob:
    """A formatted prompt waiting for a slot; `on_done` gets a Generation or an exception."""

    prompt: str
    max_tokens: int | None
    stop: tuple[str, ...]
    params: SamplingParams
    on_done: Callable[[Generation | BaseException], None]
    add_bos: bool = False
    preamble: str | None = None  # the prompt's text before the last message's: its KV is shared
    cancelled: bool = False  # set from the event loop; the engine frees the slot at its next step


@dataclass(frozen=True)
class Preamble:
    """The chat template's preamble decoded on its own: its text, tokens, and its cells saved for other slots."""

    text: str
    tokens: list[int]
    cells: ctypes.Array[ctypes.c_uint8]


@dataclass
class Running:
    """A job in a slot: its prompt, how much of it is decoded, and what it has generated."""

    job: GenerationJob
    slot: int
    prompt: list[int]
    max_tokens: int
    stop: list[bytes]
    sampler: Any
    pos: int = 0  # tokens of this sequence already in the KV cache
    completion: list[int] = field(default_factory=list)
    text: bytes = b""
    multibyte_fix: int = 0
    output_row: int = -1  # the batch row whose logits this sequence samples from next
    preamble: str | None = None  # the preamble its first cells hold (copied or kept), if any

    @property
    def prefilling(self) -> bool:
        return self.pos < len(self.prompt)


class BatchEngine:
    """Slots on one llama.cpp context; `run` advances every active sequence a token per decode."""

    def __init__(self, llama: Any, parallel: int, slot_ctx: int, n_batch: int, n_threads: int):
        import llama_cpp
        from llama_cpp import _internals

        self.lib, self.internals = llama_cpp, _internals
        self.model = llama._model
        self.parallel = parallel
        self.n_batch = n_batch
        self.n_vocab = llama.n_vocab()
        self.last_n_tokens = llama.last_n_tokens_size
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = -(-slot_ctx // 256) * 256 * parallel  # llama.cpp pads each stream to 256 cells
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = False
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = llama.context_params.flash_attn_type  # the same attention kernels as unbatched
        params.no_perf = True
        self.ctx = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.slot_ctx = min(slot_ctx, llama_cpp.llama_n_ctx_seq(self.ctx.ctx))  # llama.cpp may round n_ctx up
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.waiting: collections.deque[GenerationJob] = collections.deque()  # appended from the event loop
        self.slots: list[Running | None] = [None] * parallel
        self.preamble: Preamble | None = None
        self.kept: list[str | None] = [None] * parallel  # the preamble an idle slot still holds in its first cells
        self.admitted: list[Running] = []  # admission order: who prefills first
        self.seed = llama_cpp.LLAMA_DEFAULT_SEED
        self.steps = self.moves = self.copies = 0  # decodes made, sequences moved down a slot, preambles copied
        self.timing = StepTiming()

    def submit(self, job: GenerationJob) -> None:
        """Queue a job (any thread: deque appends are atomic)."""
        self.waiting.append(job)

    def has_work(self) -> bool:
        return bool(self.waiting) or bool(self.admitted)

    def run(self, seconds: float) -> None:
        """Decode steps until nothing is left or `seconds` have passed, so other calls can interleave."""
        deadline = time.perf_counter() + seconds
        while self.has_work() and time.perf_counter() < deadline:
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - fail what is in the slots, keep serving the queue
                for seq in list(self.admitted):
                    self.finish(seq, BadResponse(f"batched decoding failed: {exc!r}"))

    def step(self) -> None:
        """Admit into free slots, decode one batch, sample every sequence whose logits are ready."""
        self.drop_cancelled()
        self.admit()
        if not self.admitted:
            return
        self.close_gap()
        started = time.perf_counter()
        rows, generating = self.fill_batch()
        code = self.lib.llama_decode(self.ctx.ctx, self.batch)
        if code != 0:
            for seq in rows:
                self.finish(seq, BadResponse(f"llama_decode returned {code}"))
            return
        self.steps += 1
        tokens = [self.lib.llama_sampler_sample(seq.sampler.sampler, self.ctx.ctx, seq.output_row) for seq in rows]
        # counted before accept() may tell a caller its sequence is done (run.json reads the count then)
        self.timing.add(self.batch.n_tokens, generating, len(rows), time.perf_counter() - started)
        for seq, token in zip(rows, tokens):
            self.accept(seq, token)

    def drop_cancelled(self) -> None:
        """Free the slots of cancelled jobs (queued ones are skipped when their turn comes)."""
        for seq in [s for s in self.admitted if s.job.cancelled]:
            self.release(seq)

    def admit(self) -> None:
        while self.waiting and None in self.slots:
            job = self.waiting.popleft()
            if job.cancelled:
                continue
            try:
                seq = self.sequence_for(job, self.slots.index(None))
            except Exception as exc:  # noqa: BLE001 - a bad request fails alone
                job.on_done(exc)
                continue
            self.slots[seq.slot] = seq
            self.admitted.append(seq)

    def close_gap(self) -> None:
        """With nothing queued, move the highest slot's sequence down into the lowest free slot.

        llama.cpp decodes only streams with consecutive ids together: slots {0, 2, 5} cost three
        single-stream passes per step. The move copies the sequence's cells, byte for byte, with
        their positions, so its floats do not change.
        """
        if self.waiting or None not in self.slots:
            return
        hole, top = self.slots.index(None), max(self.admitted, key=lambda s: s.slot)
        if hole > top.slot:
            return
        self.restore(self.snapshot(top.slot), hole)
        self.lib.llama_memory_seq_rm(self.ctx.memory, top.slot, -1, -1)
        self.kept[hole] = self.kept[top.slot] = None
        self.slots[top.slot], self.slots[hole], top.slot = None, top, hole
        self.moves += 1

    def sequence_for(self, job: GenerationJob, slot: int) -> Running:
        """Tokenize and size a job the way Llama._create_completion does."""
        prompt = self.model.tokenize(job.prompt.encode("utf-8"), add_bos=job.add_bos, special=True)
        if len(prompt) >= self.slot_ctx:
            raise ContextTooLong(f"prompt of {len(prompt)} tokens does not fit a slot of n_ctx={self.slot_ctx}")
        room = self.slot_ctx - len(prompt)
        max_tokens = job.max_tokens if job.max_tokens is not None and job.max_tokens > 0 else room
        seq = Running(job, slot, prompt, min(max_tokens, room), [s.encode("utf-8") for s in job.stop],
                      self.sampler_for(job.params))
        try:
            self.start_from_preamble(seq)
        except BaseException:
            seq.sampler.close()
            raise
        return seq

    def start_from_preamble(self, seq: Running) -> None:
        """Start the slot from the chat template's preamble instead of decoding it again.

        Like the unbatched path, the preamble is decoded once on its own (into the first slot that
        needs it) and the rest of each prompt after it, which gives the same floats as decoding it
        all. Another slot gets a copy of its cells (llama.cpp's sequence state; copying the whole
        stream instead took 19 ms at n_ctx 2048), then keeps them when its sequence ends, as the
        unbatched path keeps the preamble, so the next sequence there needs no copy.
        """
        kept, self.kept[seq.slot] = self.kept[seq.slot], None
        wanted, preamble = seq.job.preamble, self.preamble
        if wanted and (preamble is None or preamble.text != wanted):
            preamble, kept = self.decode_preamble(wanted, seq.job.add_bos, seq.slot), wanted
        if not wanted or preamble is None or not extends(seq.prompt, preamble.tokens):
            self.lib.llama_memory_seq_rm(self.ctx.memory, seq.slot, -1, -1)
            return
        if kept != wanted:
            self.restore(preamble.cells, seq.slot)
            self.copies += 1
        seq.pos, seq.preamble = len(preamble.tokens), wanted

    def decode_preamble(self, text: str, add_bos: bool, slot: int) -> Preamble:
        """Decode the preamble alone into an empty slot, and save its cells for the other slots."""
        tokens = self.model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        self.preamble = None
        self.lib.llama_memory_seq_rm(self.ctx.memory, slot, -1, -1)
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start: start + self.n_batch]
            for row, token in enumerate(chunk):
                self.put(row, token, start + row, slot, False)
            self.batch.n_tokens = len(chunk)
            if (code := self.lib.llama_decode(self.ctx.ctx, self.batch)) != 0:
                raise BadResponse(f"llama_decode returned {code} for the chat template's preamble")
        self.preamble = Preamble(text, tokens, self.snapshot(slot))
        return self.preamble

    def snapshot(self, seq_id: int) -> ctypes.Array[ctypes.c_uint8]:
        """The cells of one sequence (positions, K and V), as llama.cpp saves a sequence's state."""
        size: int = self.lib.llama_state_seq_get_size(self.ctx.ctx, seq_id)
        state = (ctypes.c_uint8 * size)()
        if self.lib.llama_state_seq_get_data(self.ctx.ctx, state, size, seq_id) != size:
            raise BadResponse(f"llama.cpp could not save the state of sequence {seq_id}")
        return state

    def restore(self, state: ctypes.Array[ctypes.c_uint8], seq_id: int) -> None:
        """Put saved cells into an emptied slot: the same bytes at the same positions, from cell 0."""
        self.lib.llama_memory_seq_rm(self.ctx.memory, seq_id, -1, -1)
        if self.lib.llama_state_seq_set_data(self.ctx.ctx, state, len(state), seq_id) == 0:
            raise BadResponse(f"llama.cpp could not restore a sequence into slot {seq_id}")

    def sampler_for(self, p: SamplingParams) -> Any:
        """The chain Llama._init_sampler builds, seeded the way _create_completion seeds it."""
        if p.seed is not None:
            seed = p.seed
        else:  # unseeded: a fresh seed per request, derived like Llama's (reproducible by admission order)
            self.seed = seed = random.Random(self.seed).randint(0, 2**32)
        chain = self.internals.LlamaSampler()
        chain.add_penalties(self.n_vocab, self.last_n_tokens, p.repeat_penalty, p.frequency_penalty, p.presence_penalty)
        if p.grammar is not None:
            chain.add_grammar(self.model, p.grammar)
        if p.temperature < 0.0:
            chain.add_dist(seed)
        elif p.temperature == 0.0:
            chain.add_greedy()
        else:
            chain.add_top_k(p.top_k)
            chain.add_typical(p.typical_p, 1)
            chain.add_top_p(p.top_p, 1)
            chain.add_min_p(p.min_p, 1)
            chain.add_temp(p.temperature)
            chain.add_dist(seed)
        return chain

    def fill_batch(self) -> tuple[list[Running], int]:
        """Next token of every generating sequence (by slot), then a chunk of ONE waiting prompt:
        the sequences to sample after the decode, and how many rows were generating ones.

        One prompt at a time because llama.cpp computes a micro-batch holding several tokens of
        several streams with other float rounding than the same tokens alone (measured: logits
        off by up to 0.8), while one token per stream, or one stream alone, rounds exactly as a
        single-sequence context does. So each sequence's floats, and its sample, stay the same
        whatever shares the batch, and the same as the unbatched path's.
        """
        batch, rows, n = self.batch, [], 0
        for seq in sorted((s for s in self.admitted if not s.prefilling), key=lambda s: s.slot):
            self.put(n, seq.completion[-1], seq.pos, seq.slot, True)
            seq.pos, seq.output_row = seq.pos + 1, n
            rows.append(seq)
            n += 1
        generating = n
        prefill = next((s for s in self.admitted if s.prefilling), None)
        if prefill is not None and n < self.n_batch:
            chunk = prefill.prompt[prefill.pos: prefill.pos + self.n_batch - n]
            for offset, token in enumerate(chunk):
                self.put(n + offset, token, prefill.pos + offset, prefill.slot, False)
            n, prefill.pos = n + len(chunk), prefill.pos + len(chunk)
            if not prefill.prefilling:  # the prompt's last token: the first completion token comes from it
                batch.logits[n - 1] = True
                prefill.output_row = n - 1
                rows.append(prefill)
        batch.n_tokens = n
        return rows, generating

    def put(self, row: int, token: int, pos: int, slot: int, logits: bool) -> None:
        batch = self.batch
        batch.token[row], batch.pos[row], batch.n_seq_id[row] = token, pos, 1
        batch.seq_id[row][0], batch.logits[row] = slot, logits

    def accept(self, seq: Running, token: int) -> None:
        """Llama._create_completion's per-token rules: EOS, then stop strings, then max_tokens."""
        if self.lib.llama_vocab_is_eog(self.model.vocab, token):
            return self.finish(seq, self.generation(seq, seq.text, "stop"))
        seq.completion.append(token)
        seq.text += self.model.detokenize([token])  # what Llama.detokenize(completion) concatenates
        seq.multibyte_fix = pending_utf8(seq.text, seq.multibyte_fix)
        if seq.multibyte_fix > 0:  # an incomplete UTF-8 character: Llama skips the checks below too
            seq.multibyte_fix -= 1
            if seq.pos < self.slot_ctx:
                return None
        else:
            hits = [s for s in seq.stop if s in seq.text]
            if hits:
                return self.finish(seq, self.generation(seq, seq.text[: seq.text.index(hits[0])], "stop"))
        if len(seq.completion) >= seq.max_tokens or seq.pos >= self.slot_ctx:
            return self.finish(seq, self.generation(seq, seq.text, "length"))
        return None

    @staticmethod
    def generation(seq: Running, text: bytes, reason: str) -> Generation:
        return Generation(text.decode("utf-8", errors="ignore"), reason, len(seq.prompt), len(seq.completion))

    def finish(self, seq: Running, result: Generation | BaseException) -> None:
        self.release(seq)
        seq.job.on_done(result)

    def release(self, seq: Running) -> None:
        """Free the slot and its KV cells, except the preamble's (the next sequence starts from them)."""
        preamble = self.preamble
        keep = preamble if preamble is not None and preamble.text == seq.preamble else None
        self.lib.llama_memory_seq_rm(self.ctx.memory, seq.slot, len(keep.tokens) if keep else -1, -1)
        self.kept[seq.slot] = keep.text if keep else None
        self.slots[seq.slot] = None
        self.admitted.remove(seq)
        seq.sampler.close()

    def close(self, error: BaseException | None = None) -> None:
        """Fail whatever is still queued or running, then free the context."""
        error = error or RuntimeError("the embedded backend was closed")
        for seq in list(self.admitted):
            self.finish(seq, error)
        while self.waiting:
            self.waiting.popleft().on_done(error)
        if self.batch is not None:
            self.lib.llama_batch_free(self.batch)
            self.batch = None
        self.ctx.close()


def extends(prompt: list[int], prefix: list[int]) -> bool:
    """The prompt starts with `prefix` and goes on after it."""
    return len(prefix) < len(prompt) and prompt[: len(prefix)] == prefix


def pending_utf8(text: bytes, current: int) -> int:
    """Llama._create_completion's multibyte_fix: bytes still owed to a UTF-8 character at the end."""
    for k, char in enumerate(text[-3:]):
        k = 3 - k
        for num, pattern in ((2, 192), (3, 224), (4, 240)):
            if num > k and pattern & char == pattern:
                current = num - k
    return current
