"""Entity lists from data: a file, a Hugging Face Hub dataset, or in-memory data (`data=`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..recipe.load import FieldProblem
from ..recipe.model import EntityFile, HubEntity, Recipe
from .sources import EntityList

__all__ = ["load_table_entity", "describe_data_error"]


def options_of(spec: Any) -> Any:
    from .tables import TableOptions

    if not isinstance(spec, (EntityFile, HubEntity)):
        return TableOptions()
    return TableOptions(tuple(spec.columns) if spec.columns else None, spec.column, spec.where,
                        getattr(spec, "split", None) if isinstance(spec, EntityFile) else None)


def describe_data_error(exc: Any, file: str) -> str:
    """One line: the file, the line or row, the column, what is wrong."""
    from .tables.readers import UnknownColumn

    if isinstance(exc, UnknownColumn):
        used = f" ({exc.used})" if exc.used else ""
        return exc.describe(file) + used
    place = ", ".join(p for p in (file, exc.where, f"column {exc.column}" if exc.column else "") if p)
    text = str(exc)
    return f"{place} {text}" if text.startswith(VERBS) else f"{place}: {text}"


VERBS = ("is ", "has ", "holds ", "ends ", "names ", "cannot ", "a cell ", "more than ")


def load_table_entity(recipe: Recipe, name: str, spec: Any, tables: Any, data: Any = None) -> EntityList:
    """The list `name` as the rows of its data; FieldProblem naming file, line or row, and column."""
    from .tables import DataError, TableCache, TableRows, format_of, to_arrow

    cache = tables if tables is not None else TableCache()
    options = options_of(spec)
    if data is not None:
        where, file = ("entities", name), f"data={name!r}"
        opener = lambda: cache.open_arrow(to_arrow(data), options, name)  # noqa: E731
    elif isinstance(spec, HubEntity):
        from .tables.hub import load_hub

        where, file = ("entities", name, "hub"), f"the Hugging Face dataset {spec.hub}"
        opener = lambda: cache.open_arrow(load_hub(spec.hub, spec.config, spec.split), options, name)  # noqa: E731
    else:
        where, file = ("entities", name, "file"), spec.file
        path = (recipe.base_dir / spec.file)
        fmt = format_of(path)
        if not path.exists():
            raise FieldProblem(where, f"file not found: {path.resolve()}")
        if fmt is None:
            raise FieldProblem(where, f"{spec.file}: `columns`, `column`, `where` and `split` need a data file "
                               "(.jsonl .json .csv .tsv .parquet .arrow or a `datasets` directory)")
        opener = lambda: cache.open_file(Path(path), fmt, options, spec.file)  # noqa: E731
    try:
        table = opener()
    except DataError as exc:
        raise FieldProblem(where, describe_data_error(exc, file)) from None
    except OSError as exc:
        raise FieldProblem(where, f"{file}: cannot read ({exc.strerror or exc})") from None
    return EntityList(name, TableRows(table, options.column), table=table)
