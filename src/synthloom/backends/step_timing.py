"""The batch engine's own account of its steps, as serving engines report prompt and generation throughput."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StepTiming"]


@dataclass
class StepTiming:
    """Where the engine's time went, as serving engines report it: steps that only generate
    (one token per running sequence) apart from steps that also decode a prompt chunk."""

    generate_steps: int = 0
    generated: int = 0  # tokens sampled in generate-only steps
    generate_seconds: float = 0.0
    prompt_steps: int = 0
    prompt_tokens: int = 0  # prompt tokens decoded (after the shared preamble)
    prompt_step_tokens: int = 0  # tokens sampled in steps that also decoded a prompt chunk
    prompt_seconds: float = 0.0

    def add(self, n_tokens: int, generating: int, sampled: int, seconds: float) -> None:
        """One step: `n_tokens` in the batch, `generating` of them a running sequence's next token,
        `sampled` tokens drawn after it (those, and one more if a prompt's last chunk was in it)."""
        if n_tokens == generating:
            self.generate_steps, self.generated = self.generate_steps + 1, self.generated + sampled
            self.generate_seconds += seconds
        else:
            self.prompt_steps, self.prompt_step_tokens = self.prompt_steps + 1, self.prompt_step_tokens + sampled
            self.prompt_tokens += n_tokens - generating
            self.prompt_seconds += seconds

    def figures(self, parallel: int) -> dict[str, Any]:
        """For run.json: how wide the batches were and the tokens/s of each kind of step."""
        steps = self.generate_steps + self.prompt_steps
        return {
            "parallel": parallel,
            "steps": steps,
            "mean_sequences_per_step": round((self.generated + self.prompt_step_tokens) / steps, 2) if steps else 0.0,
            "generation_tokens_per_s": round(self.generated / self.generate_seconds, 1) if self.generate_seconds else 0.0,
            "prompt_steps": self.prompt_steps,
            "prompt_tokens": self.prompt_tokens,
            "seconds_generating": round(self.generate_seconds, 3),
            "seconds_with_prompts": round(self.prompt_seconds, 3),
        }
