"""Jinja2 prompt templates, rendered in a sandbox with StrictUndefined.

Values passed in (entity items, earlier LLM outputs) are data: they are inserted as text and
never parsed as template code, so `{{ }}` inside an LLM answer cannot execute anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["PromptTemplate", "TemplateSyntaxProblem", "make_environment"]

MAX_RENDERED_CHARS = 1_000_000


class TemplateSyntaxProblem(ValueError):
    """The template source does not parse; `line` is relative to the template."""

    def __init__(self, message: str, line: int | None, source: str):
        super().__init__(message)
        self.line = line
        self.source = source


def make_environment() -> ImmutableSandboxedEnvironment:
    """A sandboxed environment: no attribute access to internals, no mutation, strict names."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class PromptTemplate:
    """A compiled prompt with the variables it needs and a hash for lineage."""

    source: str
    variables: frozenset[str] = field(init=False)
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        env = make_environment()
        try:
            ast = env.parse(self.source)
        except TemplateError as exc:
            raise TemplateSyntaxProblem(str(exc), getattr(exc, "lineno", None), self.source) from None
        self.variables = frozenset(meta.find_undeclared_variables(ast))
        self.sha = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:16]
        self._template = env.from_string(self.source)

    def render(self, values: Mapping[str, Any]) -> str:
        """Render with `values`; raises jinja2 errors on undefined names or sandbox violations."""
        text = self._template.render(values)
        if len(text) > MAX_RENDERED_CHARS:
            raise ValueError(f"rendered prompt is {len(text):,} characters, over the {MAX_RENDERED_CHARS:,} limit")
        return text
