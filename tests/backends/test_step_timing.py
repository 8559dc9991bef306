"""The batch engine's step accounting (no model needed)."""

from synthloom.backends.step_timing import StepTiming


def test_steps_are_split_into_generate_only_and_with_a_prompt():
    timing = StepTiming()
    timing.add(n_tokens=13, generating=0, sampled=1, seconds=0.05)  # a prompt alone; its first token drawn
    timing.add(n_tokens=21, generating=8, sampled=8, seconds=0.09)  # 8 running + a prompt's first chunk
    for _ in range(4):
        timing.add(n_tokens=8, generating=8, sampled=8, seconds=0.04)
    figures = timing.figures(parallel=8)
    assert (timing.prompt_steps, timing.prompt_tokens, timing.prompt_step_tokens) == (2, 26, 9)
    assert (timing.generate_steps, timing.generated) == (4, 32)
    assert figures["steps"] == 6 and figures["generation_tokens_per_s"] == 200.0
    assert figures["mean_sequences_per_step"] == round(41 / 6, 2)
    assert figures["seconds_with_prompts"] == 0.14 and figures["seconds_generating"] == 0.16


def test_no_steps_gives_zeros_not_a_division_error():
    figures = StepTiming().figures(parallel=4)
    assert figures["steps"] == 0 and figures["mean_sequences_per_step"] == 0.0
    assert figures["generation_tokens_per_s"] == 0.0
