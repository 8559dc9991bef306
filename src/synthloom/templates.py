"""Jinja2 prompt templates, rendered in a sandbox with StrictUndefined and bounded work.

Values passed in (entity items, earlier LLM outputs) are data: they are inserted as text and
never parsed as template code, so `{{ }}` inside an LLM answer cannot execute anything. The
sandbox and its limits are in template_sandbox.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes

from .template_sandbox import (
    BUDGET,
    MAX_RENDER_SECONDS,
    MAX_RENDERED_CHARS,
    MAX_STEPS,
    MAX_VALUE_SIZE,
    RenderBudget,
    TemplateRenderError,
    add_guards,
    make_environment,
    refusal,
)

__all__ = ["PromptTemplate", "TemplateSyntaxProblem", "TemplateRenderError", "make_environment",
           "MAX_RENDERED_CHARS", "MAX_VALUE_SIZE", "MAX_STEPS", "MAX_RENDER_SECONDS"]


class TemplateSyntaxProblem(ValueError):
    """The template source does not parse; `line` is relative to the template."""

    def __init__(self, message: str, line: int | None, source: str):
        super().__init__(message)
        self.line = line
        self.source = source


@dataclass
class PromptTemplate:
    """A compiled prompt with the variables it needs and a hash for lineage."""

    source: str
    variables: frozenset[str] = field(init=False)
    sha: str = field(init=False)
    refused: tuple[str, int] | None = field(init=False)  # what the sandbox refuses whatever the values, and where

    def __post_init__(self) -> None:
        env = make_environment()
        try:
            ast = env.parse(self.source)
            self.variables = frozenset(meta.find_undeclared_variables(ast))
            self.refused = refusal(ast, self.source)
            self._parts = substitution_parts(ast)  # before add_guards changes the tree
            self._template = env.from_string(add_guards(ast, env))
            # a plain dict, not Jinja's ChainMap over the environment's globals: each render copies
            # and lists the globals, which on a ChainMap was a tenth of the render's time
            self._template.globals = dict(self._template.globals)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxProblem(exc.message or str(exc).splitlines()[0], exc.lineno, self.source) from None
        except TemplateError as exc:
            raise TemplateSyntaxProblem(first_line(exc), getattr(exc, "lineno", None), self.source) from None
        except RecursionError:
            raise TemplateSyntaxProblem("nested too deeply", None, self.source) from None
        self.sha = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:16]

    def render(self, values: Mapping[str, Any]) -> str:
        """Render with `values`. Raises jinja2 errors on undefined names or sandbox violations, and
        TemplateRenderError on a limit or any other failure (a division by zero, a bad filter argument)."""
        try:
            return self.substitute(self._parts, values) if self._parts is not None else self.generate(values)
        except TemplateError:
            raise
        except RecursionError:
            raise TemplateRenderError("template stopped: calls nested too deeply") from None
        except MemoryError:
            raise TemplateRenderError("template stopped: out of memory") from None
        except Exception as exc:  # noqa: BLE001 - any Python error in a template is the record's, not ours
            raise TemplateRenderError(f"{type(exc).__name__}: {first_line(exc)}") from None

    def generate(self, values: Mapping[str, Any]) -> str:
        """Jinja renders it, chunk by chunk, within the render budget."""
        token = BUDGET.set(RenderBudget())
        try:
            size, chunks = 0, []
            for chunk in self._template.generate(values):
                size += len(chunk)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateRenderError(f"rendered prompt is over the {MAX_RENDERED_CHARS:,} character limit")
                chunks.append(chunk)
            return "".join(chunks)
        finally:
            BUDGET.reset(token)

    def substitute(self, parts: tuple[str | Name, ...], values: Mapping[str, Any]) -> str:
        """What Jinja renders for a template of only text and `{{ name }}`s, without its machinery
        (a fifth of a fast run's per-record time): each name's value as `str`, looked up in the
        values and then the template's globals; a missing one raises what StrictUndefined raises."""
        chunks = []
        for part in parts:
            if isinstance(part, Name):
                if part in values:
                    value = values[part]
                elif part in self._template.globals:
                    value = self._template.globals[part]
                else:
                    raise UndefinedError(f"{str(part)!r} is undefined")
                part = value if type(value) is str else str(value)
            chunks.append(part)
        text = "".join(chunks)
        if len(text) > MAX_RENDERED_CHARS:
            raise TemplateRenderError(f"rendered prompt is over the {MAX_RENDERED_CHARS:,} character limit")
        return text


class Name(str):
    """A `{{ name }}` in a substitution template's parts (the other parts are text)."""


def substitution_parts(ast: nodes.Template) -> tuple[str | Name, ...] | None:
    """The template as text and names, when it is only that (no tags, filters, attributes or
    expressions); None for any other template, which Jinja renders."""
    parts: list[str | Name] = []
    for output in ast.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                parts.append(Name(node.name))
            else:
                return None
    return tuple(parts)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

