"""Rejects texts that match a blocked pattern or word, or miss a required pattern."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ...record import Record, Rejected
from .base import Filter, FilterConfig

__all__ = ["RegexFilter", "RegexConfig"]


class RegexConfig(FilterConfig):
    kind: str = "regex"
    block: list[str] = Field(default_factory=list, description="regexes that must not match (case-insensitive)")
    require: list[str] = Field(default_factory=list, description="regexes that must all match")
    words: list[str] = Field(default_factory=list, description="a blocklist of whole words or phrases")
    words_file: str | None = Field(None, description="more blocked words, one per line (relative to the recipe)")

    @field_validator("block", "require")
    @classmethod
    def compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def something_to_check(self) -> RegexConfig:
        if not (self.block or self.require or self.words or self.words_file):
            raise ValueError("give `block`, `require`, `words` or `words_file`")
        return self


class RegexFilter(Filter):
    """`blocked` (a pattern or word matched, named in the detail) or `pattern_missing`."""

    Config = RegexConfig

    def __init__(self, config: RegexConfig, context=None):
        super().__init__(config)
        words = list(config.words)
        if config.words_file:
            words += read_words(config.words_file, context)
        self.blocked = [re.compile(p, re.IGNORECASE) for p in config.block]
        if words:
            alternatives = "|".join(re.escape(w.strip()) for w in sorted(set(words), key=len, reverse=True) if w.strip())
            self.blocked.append(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))
        self.required = [re.compile(p, re.IGNORECASE) for p in config.require]

    def check(self, text: str, record: Record) -> Rejected | None:
        for pattern in self.blocked:
            match = pattern.search(text)
            if match:
                return Rejected("blocked", f"{self.config.field} contains {match.group(0)!r}")
        for pattern in self.required:
            if not pattern.search(text):
                return Rejected("pattern_missing", f"{self.config.field} does not match {pattern.pattern!r}")
        return None


def read_words(path: str, context) -> list[str]:
    from ...recipe.load import FieldProblem

    base = getattr(context, "base_dir", None) or Path.cwd()
    file = Path(path) if Path(path).is_absolute() else Path(base) / path
    try:
        return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    except OSError as exc:
        raise FieldProblem(("words_file",), f"cannot read {file}: {exc.strerror}") from None
