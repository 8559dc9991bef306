"""Entity lists from data: a file, a Hugging Face Hub dataset, or in-memory data (`data=`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..recipe.load import FieldProblem
from ..recipe.model import EntityFile, HubEntity, Recipe
from .entity import EntityList

__all__ = ["load_table_entity", "describe_data_error", "records_for_run", "DEFAULT_RECORDS"]

DEFAULT_RECORDS = 10  # -n when nothing else says how many


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
    where: tuple[str, ...]
    opener: Callable[[], Any]
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


def records_for_run(n: int | None, recipe: Recipe, entities: dict[str, EntityList]) -> int:
    """The run's record count: -n, or one per row (× per_row) when a slot walks rows with `each`
    (else DEFAULT_RECORDS).

    `each` does not wrap: -n past the last row is refused, so no row is labelled twice.
    """
    from ..errors import ConfigError

    walker = next((spec for spec in recipe.slot_specs().values() if spec.sampler == "each"), None)
    if walker is None or walker.source not in entities:
        return DEFAULT_RECORDS if n is None else n
    rows = len(entities[walker.source].items)
    records = rows * walker.per_row
    if n is None:
        return records
    if n > records:
        per_row = f" × per_row {walker.per_row}" if walker.per_row > 1 else ""
        raise ConfigError(f"-n {n} is more than the {records:,} records that {walker.source!r} makes "
                          f"({rows:,} rows{per_row}); sampler each does not wrap: leave -n out for all of them")
    return n
