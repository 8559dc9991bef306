"""Constraint verification: did the text do what its prompt asked? If not, regenerate.

TinyStories-style prompts ask for sampled words ("use the verb 'decorate'") and features ("a
dialogue"); small models often ignore them. This step checks the text for every requested word
in any inflected form (decorated, decorating; thunders) and for the features that can be checked
(quoted speech for a dialogue), and on a miss re-asks the stage that wrote the text, with a new
seed and, by default, a follow-up naming what is missing, up to `tries` generations in all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...backends.base import Request, Response
from ...errors import missing_extra, require_extra
from ...recipe.load import FieldProblem
from ...recipe.model import check_identifier
from ...record import Record, Rejected
from ...stages.base import ParseResult, Regenerable, StageBase, StageContext
from ...stages.common import fingerprint_of
from ...templates import PromptTemplate

__all__ = ["ConstraintStage", "ConstraintConfig", "word_forms", "uses_word", "FEATURE_CHECKS"]

QUOTES = "\"\u201c\u201d\u00ab\u00bb"
QUOTED = re.compile(rf"[{QUOTES}]\s*[^{QUOTES}\n]*?\w+\W+\w+[^{QUOTES}\n]*?[{QUOTES}]")
FEATURE_CHECKS: dict[str, re.Pattern[str]] = {
    "quoted_speech": QUOTED,  # at least two words between quotation marks
    "question": re.compile(r"\w\s*\?"),
    "exclamation": re.compile(r"\w\s*!"),
}

FEEDBACK = {
    "note": "Important: your text must include {{ missing | join(', ') }}.",
    "follow_up": ("Your text does not include {{ missing | join(', ') }}. Rewrite it so that it does, keeping "
                  "everything else the prompt asked for. Reply with only the new text."),
}


class FeatureChecks(BaseModel):
    """Which sampled features can be checked: a feature containing a key gets that check."""

    model_config = ConfigDict(extra="forbid")

    slot: str
    checks: dict[str, str] = Field(default_factory=lambda: {"dialogue": "quoted_speech"},
                                   description="substring of a feature → quoted_speech | question | exclamation | regex:PATTERN")

    @field_validator("checks")
    @classmethod
    def known_checks(cls, checks: dict[str, str]) -> dict[str, str]:
        for key, check in checks.items():
            if check.startswith("regex:"):
                try:
                    re.compile(check[6:])
                except re.error as exc:
                    raise ValueError(f"{key}: {check[6:]!r} is not a valid regex: {exc}") from None
            elif check not in FEATURE_CHECKS:
                raise ValueError(f"{key}: unknown check {check!r} (known: {', '.join(FEATURE_CHECKS)}, regex:PATTERN)")
        return checks


class ConstraintConfig(BaseModel):
    """Recipe fields of a `constraints` step."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "constraints"
    name: str = "constraints"
    field: str = Field(description="the text to check, e.g. story")
    words: list[str] = Field(default_factory=list, description="slots whose values must appear, in any inflected form")
    features: FeatureChecks | None = None
    tries: int = Field(3, ge=1, le=10, description="generations in all, the first included; 1 = only check")
    regenerate: str | None = Field(None, description="the stage to re-ask; default: the stage that wrote `field`")
    feedback: Literal["note", "follow_up", "none"] = Field(
        "note", description="note: the prompt again, with a line naming what is missing; follow_up: the last text "
        "and a message naming the miss; none: the same prompt with a new seed only")
    feedback_text: str | None = Field(None, description="template for that line or message; sees `missing` and the record")

    _names = field_validator("name", "field")(check_identifier)


@lru_cache(maxsize=65536)
def word_forms(word: str) -> frozenset[str]:
    """Every inflected form of a word and of its lemmas (decorate → decorated, decorating, decorates)."""
    try:
        import lemminflect
    except ImportError as exc:
        raise missing_extra("curate", exc) from None
    word = word.lower()
    lemmas = {word} | {lemma for found in lemminflect.getAllLemmas(word).values() for lemma in found}
    forms = set(lemmas)
    for lemma in lemmas:
        inflections = lemminflect.getAllInflections(lemma)
        if not inflections:
            for upos in ("NOUN", "VERB"):
                inflections.update(lemminflect.getAllInflectionsOOV(lemma, upos))
        forms.update(form.lower() for found in inflections.values() for form in found)
    return frozenset(forms)


@lru_cache(maxsize=65536)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase with its last word in any form ("ice cream" → ice creams), on word boundaries."""
    words = phrase.lower().split()
    head = "".join(re.escape(w) + r"\s+" for w in words[:-1])
    last = "|".join(sorted(map(re.escape, word_forms(words[-1])), key=len, reverse=True))
    return re.compile(rf"(?<![\w-]){head}(?:{last})(?![\w-])", re.IGNORECASE)


def uses_word(text: str, phrase: str) -> bool:
    """Whether the text uses the word or phrase, in any inflected form."""
    return bool(phrase.strip()) and phrase_pattern(phrase.strip()).search(text.replace("\u2019", "'")) is not None


class ConstraintStage(StageBase):
    """Checks the record's text; regenerates it on a miss; `constraint_missed` after `tries`.

    Its output NAME is {"tries", "required", "first_missing", "missing"}: how many generations
    it took, how many items were asked for, and what the first and the final text lacked, so
    adherence before and after regeneration can be reported from the dataset alone.
    """

    Config: ClassVar[type[BaseModel]] = ConstraintConfig
    figures: ClassVar[Literal["constraints", "grounding"] | None] = "constraints"

    def __init__(self, config: ConstraintConfig, context: StageContext = StageContext()):
        require_extra("curate", "lemminflect")
        self.config = config
        self.name = config.name
        self.outputs = (config.name,)
        self.rewrites = frozenset({config.field})
        self.inputs = frozenset({config.field, *config.words, *([config.features.slot] if config.features else [])})
        text = config.feedback_text or FEEDBACK.get(config.feedback)
        self.feedback = PromptTemplate(text) if text and config.feedback != "none" else None
        self.fingerprint = fingerprint_of(config.model_dump_json())
        self.target: Regenerable | None = None

    def bind(self, earlier: Mapping[str, Any]) -> None:
        """Find the stage to re-ask (it must keep its messages in record.state, as generate does)."""
        if self.config.tries == 1:
            return
        name = self.config.regenerate or next(
            (s.name for s in reversed(list(earlier.values())) if self.config.field in s.outputs), None)
        stage = earlier.get(name) if name else None
        if not isinstance(stage, Regenerable):
            which = f"named {name!r}" if name else f"writes {self.config.field!r}"
            raise FieldProblem(("regenerate",), f"no earlier generate stage {which} "
                               "to regenerate (set `regenerate:`, or `tries: 1` to only check)")
        self.target = stage

    def required(self, record: Record) -> list[tuple[str, Any]]:
        """(label, test) per requested item: a word to find, or a feature with its pattern."""
        values = record.variables()
        items: list[tuple[str, Any]] = []
        for slot in self.config.words:
            value = values.get(slot)
            for word in value if isinstance(value, list) else [value]:
                if isinstance(word, str) and word.strip():
                    items.append((f'the word "{word}"', word))
        if self.config.features:
            value = values.get(self.config.features.slot)
            for feature in value if isinstance(value, list) else [value]:
                for key, check in self.config.features.checks.items():
                    if isinstance(feature, str) and key.lower() in feature.lower():
                        pattern = re.compile(check[6:]) if check.startswith("regex:") else FEATURE_CHECKS[check]
                        items.append((f'the feature "{feature}"', pattern))
        return items

    def missing(self, text: str, record: Record) -> list[str]:
        return [label for label, test in self.required(record)
                if not (uses_word(text, test) if isinstance(test, str) else test.search(text))]

    def render(self, record: Record) -> dict[str, Any] | Rejected | Request:
        text = str(record.variables().get(self.config.field) or "")
        missing = self.missing(text, record)
        state = record.state[self.name] = {"tries": 1, "first_missing": missing, "required": len(self.required(record))}
        return self.verdict(text, missing, record, state)

    def parse(self, response: Response, record: Record) -> ParseResult:
        state = record.state[self.name]
        state["tries"] += 1
        text = response.text.strip()
        return self.verdict(text, self.missing(text, record) if text else ["any text"], record, state)

    def verdict(self, text: str, missing: list[str], record: Record, state: dict) -> ParseResult:
        info = {"tries": state["tries"], "required": state["required"], "first_missing": state["first_missing"], "missing": missing}
        fields = {self.config.field: text, self.name: info}
        if not missing:
            return fields
        if state["tries"] >= self.config.tries:
            return Rejected("constraint_missed", f"{self.config.field} lacks {', '.join(missing)} after {state['tries']} "
                            f"generation{'s' if state['tries'] > 1 else ''}", fields=fields)
        return self.regeneration(text, missing, record, state["tries"])

    def regeneration(self, text: str, missing: list[str], record: Record, tries: int) -> Request:
        """The target's own prompt with a new seed, and what the last text lacked (as a note or a follow-up)."""
        assert self.target is not None  # bind found it (tries > 1)
        messages = list(self.target.messages(record))
        if self.feedback is not None:
            line = self.feedback.render({**record.variables(), "missing": missing})
            if self.config.feedback == "note":
                last = messages[-1]
                messages[-1] = {**last, "content": f"{last['content']}\n\n{line}"}
            elif text:
                messages += [{"role": "assistant", "content": text}, {"role": "user", "content": line}]
        return self.target.reask(messages, record, tries)
