"""`where:` row selection: a tiny expression language (or a mapping) compiled to an Arrow filter.

Never Python's eval: the grammar is comparisons of a column with a literal, joined by
`and`/`or`/`not` and parentheses:

    label != ''                 score >= 4 and lang in ['en', 'de']
    label is not null           not (source == "web" or flagged == true)

A mapping `{label: positive, lang: [en, de]}` means every column equals its value (or one of
its list). A comparison with a null cell is false, so `label != ''` also leaves out rows with
no label. A number compared with a text column compares the text as a number.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["WhereError", "compile_where", "where_columns"]

Condition = tuple[Any, ...]  # ("and"|"or", [parts]) | ("not", part) | (op, column[, value or values])

TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op>==|!=|<=|>=|<|>|=)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
)""", re.VERBOSE)
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
OPS = {"==": "equal", "=": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal",
       ">": "greater", ">=": "greater_equal"}


class WhereError(ValueError):
    """A `where:` that does not parse or names an unknown column."""


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise WhereError(f"cannot read {text[pos:pos + 20].strip()!r} (at character {pos + 1})")
        kind = match.lastgroup or ""
        value: Any = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "num":
            value = float(value) if any(c in value for c in ".eE") else int(value)
        elif kind == "name" and value.lower() in KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class Parser:
    """Recursive descent over the tokens; builds a nested tuple tree."""

    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, kind: str, value: Any = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        k, v = self.tokens[self.pos]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: Any = None, what: str = "") -> Any:
        if not self.peek(kind, value):
            found = repr(self.tokens[self.pos][1]) if self.pos < len(self.tokens) else "the end"
            raise WhereError(f"expected {what or value or kind}, found {found}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self) -> Condition:
        tree = self.any_of()
        if self.pos < len(self.tokens):
            raise WhereError(f"unexpected {self.tokens[self.pos][1]!r} after a complete condition")
        return tree

    def any_of(self) -> Condition:
        parts = [self.all_of()]
        while self.peek("kw", "or"):
            self.pos += 1
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def all_of(self) -> Condition:
        parts = [self.negation()]
        while self.peek("kw", "and"):
            self.pos += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def negation(self) -> Condition:
        if self.peek("kw", "not"):
            self.pos += 1
            return ("not", self.negation())
        if self.peek("punct", "("):
            self.pos += 1
            tree = self.any_of()
            self.take("punct", ")")
            return tree
        return self.comparison()

    def comparison(self) -> Condition:
        column = self.take("name", what="a column name")
        if self.peek("kw", "is"):
            self.pos += 1
            negated = self.peek("kw", "not") and bool(self.take("kw", "not"))
            self.take("kw", "null")
            return ("notnull" if negated else "null", column)
        if self.peek("kw", "not") or self.peek("kw", "in"):
            negated = self.peek("kw", "not") and bool(self.take("kw", "not"))
            self.take("kw", "in")
            return ("notin" if negated else "in", column, self.values())
        op = self.take("op", what="a comparison (== != < <= > >=, in, is null)")
        return (OPS[op], column, self.literal())

    def values(self) -> list[Any]:
        self.take("punct", "[")
        items = [self.literal()]
        while self.peek("punct", ","):
            self.pos += 1
            items.append(self.literal())
        self.take("punct", "]")
        return items

    def literal(self) -> Any:
        if self.pos < len(self.tokens):
            kind, value = self.tokens[self.pos]
            if kind in ("str", "num"):
                self.pos += 1
                return value
            if kind == "kw" and value in ("true", "false"):
                self.pos += 1
                return value == "true"
        raise WhereError("expected a value: 'text', a number, true or false")


def parse_where(where: str | dict[str, Any]) -> Condition:
    """The condition tree of a `where:` string or mapping."""
    if isinstance(where, dict):
        if not where:
            raise WhereError("an empty mapping selects nothing; leave `where` out to keep every row")
        parts = [("in", str(k), list(v)) if isinstance(v, list) else ("equal", str(k), v) for k, v in where.items()]
        return parts[0] if len(parts) == 1 else ("and", parts)
    if not where.strip():
        raise WhereError("is empty")
    return Parser(where).parse()


def where_columns(tree: Condition) -> set[str]:
    if tree[0] in ("and", "or"):
        return set().union(*(where_columns(part) for part in tree[1]))
    if tree[0] == "not":
        return where_columns(tree[1])
    return {tree[1]}


def compile_where(where: str | dict[str, Any], schema: Any) -> Any:
    """A pyarrow.compute Expression for `where` over a table with `schema`; WhereError if it is wrong."""
    tree = parse_where(where)
    unknown = sorted(where_columns(tree) - set(schema.names))
    if unknown:
        from .readers import UnknownColumn

        raise UnknownColumn(unknown[0], schema.names, "where")
    return build(tree, schema)


def build(tree: Condition, schema: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = tree[0]
    if kind in ("and", "or"):
        parts = [build(part, schema) for part in tree[1]]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if kind == "and" else (out | part)
        return out
    if kind == "not":
        return ~build(tree[1], schema)
    column = tree[1]
    field = pc.field(column)
    if kind == "null":
        return field.is_null()
    if kind == "notnull":
        return field.is_valid()
    values = tree[2] if kind in ("in", "notin") else [tree[2]]
    ctype = schema.field(column).type
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and (pa.types.is_string(ctype) or pa.types.is_large_string(ctype)):
        field = field.cast(pa.float64())
    elif not numeric and (pa.types.is_integer(ctype) or pa.types.is_floating(ctype)):
        if any(isinstance(v, str) for v in values):
            raise WhereError(f"column {column} holds numbers: compare it with a number, not {values[0]!r}")
    if kind in ("in", "notin"):
        test = field.isin(values)
        return (~test & field.is_valid()) if kind == "notin" else test
    return getattr(pc, kind)(field, pc.scalar(values[0]))
