"""Check, before any request, that templates only read columns the data has.

`{{ ticket.txt }}` on rows without a `txt` column would fail on every record at run time;
here it is a recipe error naming the file and its columns. Found: `slot.col`, `slot['col']`,
`slot[0].col` for a list of rows, and `e.col` inside `{% for e in slot %}`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes

from ..recipe.load import FieldProblem
from .sources import EntityList

__all__ = ["check_columns"]


def row_slots(recipe: Any, entities: dict[str, EntityList]) -> dict[str, tuple[list[str], str]]:
    """Slots whose values are rows of a data file (or lists of them): their columns and file."""
    found = {}
    for name, spec in recipe.slot_specs().items():
        entity = entities.get(spec.source)
        if entity is None or entity.table is None:
            continue
        table = entity.table
        if len(entity.items) and isinstance(entity.items[0], dict):
            found[name] = (table.columns, table.name)
    return found


def column_reads(ast: nodes.Template, slots: set[str]) -> Iterable[tuple[str, str, int]]:
    """(slot, column, line) for every constant column read from a row slot."""
    loops: dict[str, str] = {}
    for loop in ast.find_all(nodes.For):
        if isinstance(loop.target, nodes.Name) and isinstance(loop.iter, nodes.Name) and loop.iter.name in slots:
            loops[loop.target.name] = loop.iter.name

    def slot_of(node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Name):
            return node.name if node.name in slots else loops.get(node.name)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int):
            return slot_of(node.node) if isinstance(node.node, nodes.Name) and node.node.name in slots else None
        return None

    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            column = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            column = node.arg.value
        else:
            continue
        slot = slot_of(node.node)
        if slot is not None:
            yield slot, column, node.lineno


def check_columns(recipe: Any, entities: dict[str, EntityList], built: list[tuple[tuple[str, int], list[Any], Any]],
                  field_of: Callable[[dict[str, Any], str], str]) -> None:
    """Raise FieldProblem at the template that reads a column its slot's data does not have."""
    slots = row_slots(recipe, entities)
    if not slots:
        return
    from ..templates import make_environment

    env = make_environment()
    for (section, i), templates, _step in built:
        for template in templates:
            for slot, column, line in column_reads(env.parse(template.source), set(slots)):
                columns, file = slots[slot]
                if column in columns or column in DICT_METHODS:
                    continue
                close = difflib.get_close_matches(column, columns, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raw = getattr(recipe, section)[i].model_dump()
                raise FieldProblem((section, i, field_of(raw, template.source)),
                                   f"no column {column} in {file}; columns: {', '.join(columns)}{hint} "
                                   f"(template line {line}: {slot}.{column})")


DICT_METHODS = frozenset({"items", "keys", "values", "get"})  # `{% for k, v in row.items() %}` reads no column
