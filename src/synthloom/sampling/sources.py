"""Entity lists: inline, from a file (one item per line), or weighted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..recipe.load import FieldProblem
from ..recipe.model import ChunksEntity, EntityFile, HubEntity, Recipe, TreeEntity, WeightedItems
from .entity import EntityList

__all__ = ["EntityList", "load_entities", "read_items", "read_bytes_limited"]


MAX_FILE_BYTES = 256 << 20


def read_bytes_limited(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, refusing one bigger than `limit` (or endless, like /dev/zero) before it fills memory."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"is over {limit >> 20} MB, too big for an entity list")
    return data


def read_items(path: Path) -> list[str]:
    """One item per line; blank lines and lines starting with '#' are skipped."""
    data = read_bytes_limited(path)
    if b"\x00" in data:
        raise ValueError("is a binary file, not a text list")
    text = data.decode("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def tree_entity_items(recipe: Recipe, name: str, spec: TreeEntity, generated: dict[str, list[str]] | None) -> list[str]:
    from .trees import check_tree_prompt, load_tree, tree_items

    if spec.tree.file:
        path = (recipe.base_dir / spec.tree.file).resolve()
        try:
            return tree_items(load_tree(path), spec.tree.use)
        except FileNotFoundError:
            raise FieldProblem(("entities", name, "tree", "file"), f"file not found: {path}") from None
        except IsADirectoryError:
            raise FieldProblem(("entities", name, "tree", "file"), f"is a directory: {path}") from None
        except (ValueError, OSError) as exc:
            raise FieldProblem(("entities", name, "tree", "file"), f"{path}: {exc}") from None
    try:
        check_tree_prompt(spec.tree)
    except ValueError as exc:
        raise FieldProblem(("entities", name, "tree", "prompt"), str(exc)) from None
    if generated and name in generated:
        return generated[name]
    return [f"<{name}: grown from the topic tree at run time>"]


def clean(item: Any) -> Any:
    return {str(k): str(v).strip() for k, v in item.items()} if isinstance(item, dict) else str(item).strip()


def unique(items: Any) -> tuple[Any, ...]:
    """Drop empty and repeated items, keeping the first of each (mappings compared by content)."""
    seen: dict[str, Any] = {}
    for item in items:
        if item:
            seen.setdefault(json.dumps(item, sort_keys=True), item)
    return tuple(seen.values())


def chunk_items(recipe: Recipe, name: str, spec: ChunksEntity, corpus: Any) -> list[dict[str, str]]:
    """The corpus chunks the spec selects, as mappings ({{ chunk.text }}, {{ chunk.id }}, ...)."""
    import fnmatch

    if corpus is None:
        raise FieldProblem(("entities", name), "takes chunks from a corpus, but the recipe has no `corpus:` "
                           "(add `corpus: PATH`, or pass --corpus DIR)")
    select = spec.chunks
    items = [c.as_item() for c in corpus.chunks
             if c.tokens >= select.min_tokens and (not select.docs or any(fnmatch.fnmatch(c.doc, p) for p in select.docs))]
    if not items:
        raise FieldProblem(("entities", name, "chunks"), f"no chunk of the corpus ({len(corpus.chunks)} chunks) matches")
    return items


def check_one_shape(name: str, items: list[Any]) -> None:
    """A list is all texts or all mappings: a slot's values are one column of the dataset."""
    for i, item in enumerate(items):
        if isinstance(item, dict) != isinstance(items[0], dict):
            first, this = ("a mapping", "text") if isinstance(items[0], dict) else ("text", "a mapping")
            raise FieldProblem(("entities", name, i), f"item {i} is {this}, but the list's first item is {first}: "
                               "a list holds texts or mappings, not both")


def load_entities(recipe: Recipe, generated: dict[str, list[str]] | None = None,
                  loaded: dict[str, EntityList] | None = None, corpus: Any = None,
                  tables: Any = None, data: dict[str, Any] | None = None) -> dict[str, EntityList]:
    """Resolve every entity list of the recipe; raises FieldProblem naming the list.

    Lists made by the LLM at run time (topic trees) come in `generated`; without it (validation)
    they stand in as one placeholder item. Lists in `loaded` (an earlier pass) are not read again.
    Data files are converted into `tables` (a TableCache); `data` gives in-memory data for lists
    by name (the Python API's `data=`), in place of what the recipe says.
    """
    unknown = sorted(set(data or {}) - set(recipe.entities))
    if unknown:
        raise FieldProblem(("entities",), f"data= gives {unknown[0]!r}, which is not an entity list of the recipe "
                           f"(lists: {', '.join(recipe.entities) or 'none'})")
    lists: dict[str, EntityList] = {}
    for name, spec in recipe.entities.items():
        if loaded and name in loaded and not isinstance(spec, TreeEntity):
            entity = loaded[name]
        elif isinstance(spec, TreeEntity):
            entity = EntityList(name, unique(tree_entity_items(recipe, name, spec, generated)))
        elif isinstance(spec, ChunksEntity):
            entity = EntityList(name, tuple(chunk_items(recipe, name, spec, corpus)))
        elif name in (data or {}) or isinstance(spec, HubEntity) or isinstance(spec, EntityFile) and is_table(recipe, spec):
            entity = table_entity(recipe, name, spec, tables, (data or {}).get(name))
        elif isinstance(spec, EntityFile):
            path = (recipe.base_dir / spec.file).resolve()
            try:
                items = read_items(path)
            except FileNotFoundError:
                raise FieldProblem(("entities", name, "file"), f"file not found: {path}") from None
            except IsADirectoryError:
                raise FieldProblem(("entities", name, "file"), f"is a directory: {path}") from None
            except UnicodeDecodeError as exc:
                raise FieldProblem(("entities", name, "file"), f"{path} is not UTF-8 text (byte {exc.start})") from None
            except (ValueError, OSError) as exc:
                raise FieldProblem(("entities", name, "file"), f"{path}: {exc}") from None
            entity = EntityList(name, unique(items))
        elif isinstance(spec, WeightedItems):
            entity = EntityList(name, tuple(spec.weights), tuple(spec.weights.values()))
        else:
            check_one_shape(name, spec)
            entity = EntityList(name, unique(clean(item) for item in spec))
        if not len(entity.items):
            raise FieldProblem(("entities", name), "the list is empty")
        lists[name] = entity
    return lists


def is_table(recipe: Recipe, spec: EntityFile) -> bool:
    """A data file (by extension, or a directory) rather than a text list; options need one."""
    from .tables import format_of

    path = (recipe.base_dir / spec.file)
    return format_of(path) is not None or any(v is not None for v in (spec.columns, spec.column, spec.where, spec.split))


def table_entity(recipe: Recipe, name: str, spec: Any, tables: Any, data: Any) -> EntityList:
    from .data import load_table_entity

    return load_table_entity(recipe, name, spec, tables, data)
