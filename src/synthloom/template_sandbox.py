"""The template sandbox: Jinja's ImmutableSandboxedEnvironment plus bounded work.

Jinja's sandbox guards against reaching internals, not against runaway work, so a template is
also bounded while it renders: every value it builds (a string, a list, a number) stays under
MAX_VALUE_SIZE, the prompt under MAX_RENDERED_CHARS, loop iterations plus calls under
MAX_STEPS, and the whole render under MAX_RENDER_SECONDS. `'x' * 10**9`, `10 ** 10 ** 10`,
nested `range` loops or a macro that calls itself twice stop at once with a TemplateRenderError
instead of hanging or exhausting memory. Reading internals (`x.__class__`) or loading other
templates is found when the template is compiled (`refusal`), so a recipe with them fails validation.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateRuntimeError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

__all__ = ["TemplateRenderError", "RenderBudget", "BUDGET", "make_environment", "refusal", "add_guards",
           "MAX_RENDERED_CHARS", "MAX_VALUE_SIZE", "MAX_STEPS", "MAX_RENDER_SECONDS"]

MAX_RENDERED_CHARS = 1_000_000
MAX_VALUE_SIZE = 1_000_000  # characters of a string, items of a list, digits of a number
MAX_STEPS = 250_000  # loop iterations + calls (functions, macros, filters) in one render
MAX_RENDER_SECONDS = 2.0
MAX_INT_BITS = int(MAX_VALUE_SIZE * math.log2(10))
GUARD_ITER, GUARD_CONCAT = "_synthloom_guard_iter", "_synthloom_guard_concat"
WIDTHS = re.compile(r"\d{7,}")  # a width or precision of 1,000,000+ in a format string


class TemplateRenderError(TemplateRuntimeError, ValueError):
    """Rendering failed (a limit, or a Python error such as a division by zero): the record is rejected."""


@dataclass
class RenderBudget:
    """The work one render may still do."""

    steps: int = MAX_STEPS
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_RENDER_SECONDS)

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise TemplateRenderError(f"template stopped: over {MAX_STEPS:,} loop iterations and calls")
        if not self.steps % 1024 and time.monotonic() > self.deadline:
            raise TemplateRenderError(f"template stopped: rendering took over {MAX_RENDER_SECONDS:g} s")


BUDGET: ContextVar[RenderBudget | None] = ContextVar("synthloom_render_budget", default=None)


def step() -> None:
    budget = BUDGET.get()
    if budget is not None:
        budget.step()


def size_of(value: Any) -> int:
    """Characters of a string, items of a collection (a list's strings counted by their length)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(len(v) if isinstance(v, str) else 1 for v in value) if len(value) <= MAX_VALUE_SIZE else len(value)
    if isinstance(value, (dict, set, frozenset)):
        return len(value)
    return 0


def check_size(size: int, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise TemplateRenderError(f"{what} would make a value of {size:,} characters or items, over the {MAX_VALUE_SIZE:,} limit")


def check_result(value: Any, what: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateRenderError(f"{what} made a number over {MAX_VALUE_SIZE:,} digits")
    check_size(size_of(value), what)
    return value


def as_int(value: Any) -> int:
    try:
        return abs(int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value)) if isinstance(value, (int, float)) else 0


def check_format(fmt: Any, what: str, args: Any = ()) -> None:
    """A format string may not pad to a million characters, written in it or taken from an argument."""
    if not isinstance(fmt, str):
        return
    if WIDTHS.search(fmt):
        raise TemplateRenderError(f"{what}: a width or precision of a million or more in {fmt[:40]!r}")
    if ("*" in fmt or ":{" in fmt or ":>{" in fmt or ":<{" in fmt or ":^{" in fmt or "{:" in fmt) and any(
            isinstance(a, int) and abs(a) > MAX_VALUE_SIZE for a in flatten(args)):
        raise TemplateRenderError(f"{what}: a width or precision of a million or more in the arguments of {fmt[:40]!r}")


def flatten(args: Any) -> list[Any]:
    if isinstance(args, dict):
        return list(args.values())
    if isinstance(args, (list, tuple)):
        return [v for a in args for v in (a.values() if isinstance(a, dict) else [a])]
    return [args]


# The result size of the filters and str methods whose output can be much bigger than their input,
# estimated from the arguments before they run: (value, *args, **kwargs) -> size.
def estimate_indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    pad = len(width) if isinstance(width, str) else as_int(width)
    return text_len(s) + (str(s).count("\n") + 1) * pad if isinstance(s, str) else 0


def estimate_join(value: Any, d: Any = "", *_: Any, **__: Any) -> int:
    count = len(value) if hasattr(value, "__len__") else 0
    return size_of(value) + count * text_len(d)


def estimate_replace(s: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> int:
    n = text_len(s)
    return n + (n // max(1, text_len(old)) + 1) * text_len(new)


def estimate_wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *_: Any, **__: Any) -> int:
    n = text_len(s)
    return n + (n // max(1, as_int(width)) + 1) * text_len(wrapstring if wrapstring is not None else "\n")


def estimate_format(value: Any, *args: Any, **kwargs: Any) -> int:
    check_format(value, "format", [*args, kwargs])
    return text_len(value) + sum(size_of(a) + text_len(a) for a in (*args, *kwargs.values()))


def estimate_width(value: Any, width: Any = 0, *_: Any, **__: Any) -> int:
    return text_len(value) + as_int(width)


def estimate_count(value: Any, count: Any = 1, *_: Any, **__: Any) -> int:
    return size_of(value) + as_int(count)


def estimate_expandtabs(s: Any, tabsize: Any = 8, *_: Any, **__: Any) -> int:
    return text_len(s) * max(1, as_int(tabsize))


def estimate_lipsum(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100, *_: Any, **__: Any) -> int:
    return as_int(n) * as_int(max) * 12


FILTER_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": estimate_width, "indent": estimate_indent, "join": estimate_join, "replace": estimate_replace,
    "wordwrap": estimate_wordwrap, "format": estimate_format, "batch": estimate_count, "slice": estimate_count,
}
METHOD_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": estimate_width, "ljust": estimate_width, "rjust": estimate_width, "zfill": estimate_width,
    "expandtabs": estimate_expandtabs, "replace": estimate_replace, "format": estimate_format,
    "format_map": estimate_format,
}


def guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts as a step, checks its likely result size first and its real one after."""
    passes = _PassArg.from_obj(func) is not None
    estimate = FILTER_ESTIMATES.get(name)

    def run(*args: Any, **kwargs: Any) -> Any:
        step()
        if estimate is not None:
            check_size(estimate(*args[1 if passes else 0:], **kwargs), f"the {name} filter")
        return check_result(func(*args, **kwargs), f"the {name} filter")

    run.__name__ = getattr(func, "__name__", name)
    if hasattr(func, "jinja_pass_arg"):
        run.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return run


def guard_iter(iterable: Any) -> Any:
    """What a `{% for %}` loop walks, one step per item."""
    for item in iterable:
        step()
        yield item


def guard_concat(*parts: Any) -> str:
    """`a ~ b ~ c`, refused before it makes a string over the size limit."""
    texts = [str(part) for part in parts]
    check_size(sum(map(len, texts)), "~")
    return "".join(texts)


def safe_lipsum(*args: Any, **kwargs: Any) -> str:
    from jinja2.utils import generate_lorem_ipsum

    check_size(estimate_lipsum(*args, **kwargs), "lipsum")
    return generate_lorem_ipsum(*args, **kwargs)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the operators that can build huge values checked first."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        step()
        what = f"the operator {op}"
        if op == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and isinstance(seq, (str, list, tuple)):
                check_size(size_of(seq) * max(0, times), what)
            elif isinstance(left, int) and isinstance(right, int):
                check_bits(left.bit_length() + right.bit_length(), what)
        elif op == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            check_bits(right * math.log2(abs(left)), what)
        elif op == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            check_size(size_of(left) + size_of(right), what)
        elif op == "%":
            check_format(left, what, right)
        return check_result(super().call_binop(context, op, left, right), what)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        if __obj is guard_iter or __obj is guard_concat:  # our own guards: the hot path of every loop
            return __obj(*args)
        step()
        name = getattr(__obj, "__name__", "call")
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # str.format comes wrapped by the sandbox
        if isinstance(owner, str) and name in METHOD_ESTIMATES:
            check_size(METHOD_ESTIMATES[name](owner, *args, **kwargs), f"str.{name}")
        return check_result(super().call(__context, __obj, *args, **kwargs), name)


def check_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateRenderError(f"{what} would make a number over {MAX_VALUE_SIZE:,} digits")


def make_environment() -> ImmutableSandboxedEnvironment:
    """A sandboxed environment: no attribute access to internals, no mutation, strict names, bounded work."""
    env = BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters = {name: guarded_filter(name, func) for name, func in env.filters.items()}
    env.globals.update({"lipsum": safe_lipsum, GUARD_ITER: guard_iter, GUARD_CONCAT: guard_concat})
    return env


def refusal(ast: nodes.Template, source: str) -> tuple[str, int] | None:
    """What the sandbox would refuse on every record, and its line: a recipe error, not a record's."""
    for node in ast.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        return "a prompt cannot include, extend or import other templates", node.lineno
    internals = [(node.lineno, attr) for node, attr in attributes_read(ast) if attr.startswith("_")]
    if not internals:
        return None
    line, attr = min(internals, key=lambda found: (found[0], source.find(found[1])))  # the first as written
    return f"reads the attribute {attr!r}: names starting with '_' are Python internals, which the template sandbox refuses", line


def attributes_read(ast: nodes.Template) -> list[tuple[nodes.Node, str]]:
    """Every `x.name` and `x|attr('name')` with a constant name."""
    found: list[tuple[nodes.Node, str]] = []
    for node in ast.find_all((nodes.Getattr, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            found.append((node, node.attr))
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args and isinstance(node.args[0], nodes.Const):
            found.append((node, str(node.args[0].value)))
    return found


def add_guards(ast: nodes.Template, env: ImmutableSandboxedEnvironment) -> nodes.Template:
    """Route every `{% for %}` through guard_iter and every `~` through guard_concat."""
    for loop in ast.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(GUARD_ITER, "load", lineno=loop.lineno), [loop.iter], [], None, None,
                               lineno=loop.lineno)
    for concat in list(ast.find_all(nodes.Concat)):
        call = nodes.Call(nodes.Name(GUARD_CONCAT, "load"), list(concat.nodes), [], None, None, lineno=concat.lineno)
        replace_node(ast, concat, call)
    ast.set_environment(env)
    return ast


def replace_node(root: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for parent in root.find_all(nodes.Node):
        for name, value in parent.iter_fields():
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                setattr(parent, name, [new if item is old else item for item in value])
                return
