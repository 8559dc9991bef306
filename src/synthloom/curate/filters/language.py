"""Rejects texts not in one of the expected languages (py3langid, its model ships in the wheel)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from ...errors import missing_extra, require_extra
from ...record import Record, Rejected
from ...stages.base import StageContext
from .base import Filter, FilterConfig

__all__ = ["LanguageFilter", "LanguageConfig", "identify_language"]


class LanguageConfig(FilterConfig):
    kind: str = "language"
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, description="ISO 639-1 codes")
    min_confidence: float = Field(0.5, ge=0, le=1, description="below this the text is `language_unsure`")


@lru_cache(maxsize=1)
def identifier():
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise missing_extra("curate", exc) from None
    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def identify_language(text: str) -> tuple[str, float]:
    """The most likely language code and its probability."""
    language, probability = identifier().classify(text)
    return language, float(probability)


class LanguageFilter(Filter):
    """`wrong_language` (another language, confidently) or `language_unsure`."""

    Config = LanguageConfig
    config: LanguageConfig

    def __init__(self, config: LanguageConfig, context: StageContext = StageContext()):
        require_extra("curate", "py3langid")
        super().__init__(config, context)

    def check(self, text: str, record: Record) -> Rejected | None:
        if not text.strip():
            return Rejected("language_unsure", f"{self.config.field} is empty")
        language, probability = identify_language(text)
        if language not in self.config.languages:
            return Rejected("wrong_language", f"{self.config.field}: {language} ({probability:.2f}), "
                            f"expected {', '.join(self.config.languages)}")
        if probability < self.config.min_confidence:
            return Rejected("language_unsure", f"{self.config.field}: {language} at only {probability:.2f}")
        return None
