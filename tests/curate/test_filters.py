"""Each filter on texts it must keep and texts it must reject, with its reason."""

import pytest
from pydantic import ValidationError

from synthloom.curate.filters import LanguageFilter, LengthFilter, RefusalFilter, RegexFilter, RepetitionFilter, TruncatedFilter
from synthloom.curate.filters.repetition import compression_ratio, duplicate_ngram_fraction
from synthloom.record import Record, Rejected

STORY = ("Lily found a shiny red ball in the garden. She threw it to her dog, Max, who ran after it. "
         "\"Good boy!\" said Lily. They played until the sun went down, and then they went home for dinner.")


def check(step, text, **fields):
    return step.render(Record(0, "r", {}, {"text": text, **fields}))


def verdict(step, text):
    result = check(step, text)
    return result.reason if isinstance(result, Rejected) else None


def test_length_in_chars_words_and_tokens():
    assert verdict(LengthFilter(LengthFilter.Config(field="text", min_words=10)), STORY) is None
    assert verdict(LengthFilter(LengthFilter.Config(field="text", min_words=10)), "Too short.") == "too_short"
    assert verdict(LengthFilter(LengthFilter.Config(field="text", max_chars=50)), STORY) == "too_long"
    tokens = LengthFilter(LengthFilter.Config(field="text", max_tokens=20))
    result = check(tokens, STORY)
    assert result.reason == "too_long" and "tokens" in result.detail
    with pytest.raises(ValidationError):
        LengthFilter.Config(field="text")  # no bound at all is a recipe error


def test_repetition_catches_loops_not_stories():
    loop = "The cat sat on the mat and the cat sat on the mat and the cat sat on the mat. " * 4
    assert duplicate_ngram_fraction(loop, 3) > 0.8 > 0.1 > duplicate_ngram_fraction(STORY, 3)
    assert compression_ratio(loop) < 0.3 < compression_ratio(STORY)
    step = RepetitionFilter(RepetitionFilter.Config(field="text", min_compression_ratio=0.3))
    assert verdict(step, STORY) is None
    assert verdict(step, loop) == "repetitive_ngrams"
    only_compression = RepetitionFilter(RepetitionFilter.Config(field="text", max_duplicate_fraction=None,
                                                                min_compression_ratio=0.3))
    assert verdict(only_compression, loop) == "compressible"


def test_language():
    step = LanguageFilter(LanguageFilter.Config(field="text", languages=["en"]))
    assert verdict(step, STORY) is None
    german = "Der kleine Hund spielt jeden Tag im Garten mit seinem roten Ball und ist sehr glücklich."
    result = check(step, german)
    assert result.reason == "wrong_language" and "de" in result.detail
    assert verdict(LanguageFilter(LanguageFilter.Config(field="text", languages=["de", "en"])), german) is None


def test_regex_block_require_and_word_list(tmp_path):
    words = tmp_path / "blocked.txt"
    words.write_text("# comment\nfoo bar\n", encoding="utf-8")
    from synthloom.stages.base import StageContext

    step = RegexFilter(RegexFilter.Config(field="text", block=[r"https?://"], words=["Max"], words_file="blocked.txt",
                                          require=[r"\"[^\"]+\""]), StageContext(base_dir=tmp_path))
    assert check(step, STORY).detail.endswith("'Max'")
    assert verdict(step, "Visit http://x.io \"now\"") == "blocked"
    assert verdict(step, "He said \"hi\" to Maxwell") is None  # whole words only
    assert verdict(step, "He said \"hi\", then FOO  bar") is None  # the phrase needs its exact spacing
    assert verdict(step, "He said \"hi\", then FOO bar") == "blocked"
    assert verdict(step, "No quotes here") == "pattern_missing"
    with pytest.raises(ValidationError):
        RegexFilter.Config(field="text", block=["(unclosed"])


@pytest.mark.parametrize("text", [
    "As an AI language model, I cannot write stories about violence.",
    "I'm sorry, but I can't help with that request.",
    "I\u2019m sorry, but I can\u2019t assist with that.",
    "I apologize, but this is not something I can do.",
])
def test_refusals_rejected(text):
    assert verdict(RefusalFilter(RefusalFilter.Config(field="text")), text) == "refusal"


def test_refusal_keeps_ordinary_text_and_takes_extra_phrases():
    step = RefusalFilter(RefusalFilter.Config(field="text", phrases=[r"\bnice try\b"]))
    assert verdict(step, STORY) is None
    assert verdict(step, "Nice try, but no.") == "refusal"


def test_truncated_reads_the_last_call_of_each_stage():
    step = TruncatedFilter(TruncatedFilter.Config())
    cut = Record(0, "r", {}, {"text": STORY}, lineage=[{"stage": "story", "finish_reason": "length"}])
    assert step.render(cut).reason == "truncated" and "story" in step.render(cut).detail
    repaired = Record(0, "r", {}, {}, lineage=[{"stage": "story", "finish_reason": "length"},
                                              {"stage": "story", "finish_reason": "stop"}])
    assert step.render(repaired) == {}
    only_title = TruncatedFilter(TruncatedFilter.Config(stages=["title"]))
    assert only_title.render(cut) == {}


def test_a_step_whose_extra_is_missing_says_so_when_built(monkeypatch):
    """Checked when the recipe is built (validate, and run before any request), not on the first record."""
    import importlib.util

    from synthloom.curate.filters import LanguageFilter
    from synthloom.curate.verify.constraints import ConstraintConfig, ConstraintStage
    from synthloom.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("py3langid", "lemminflect") else real(name, *a))
    with pytest.raises(ConfigError, match=r"`curate` extra \(py3langid is not installed\)"):
        LanguageFilter(LanguageFilter.Config(field="text"))
    with pytest.raises(ConfigError, match=r"`curate` extra \(lemminflect is not installed\)"):
        ConstraintStage(ConstraintConfig(name="c", field="text", words=["noun"]))
