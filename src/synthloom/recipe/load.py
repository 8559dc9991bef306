"""Load a YAML recipe into a validated Recipe, with errors that name file, line and field."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import RecipeError
from .model import Recipe

__all__ = ["load_recipe", "parse_recipe", "FieldProblem", "format_loc"]

MAX_RECIPE_BYTES = 64 << 20
MAX_VALUES = 1_000_000  # values in a recipe with its YAML aliases expanded (a recipe with 834 words inline has ~900)


class FieldProblem(Exception):
    """A problem at a path inside the recipe (e.g. ('stages', 1, 'prompt')), line filled in later."""

    def __init__(self, loc: tuple[Any, ...], message: str, line_offset: int = 0):
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.line_offset = line_offset


def format_loc(loc: Iterable[Any]) -> str:
    """('stages', 0, 'prompt') -> 'stages[0].prompt'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_recipe(path: str | Path) -> Recipe:
    """Read, parse and validate a recipe file; raises RecipeError with file:line and field."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # not read_bytes(): /dev/zero would fill memory
            data = handle.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise RecipeError(str(path), "no such file") from None
    except IsADirectoryError:
        raise RecipeError(str(path), "is a directory, not a recipe file") from None
    except OSError as exc:
        raise RecipeError(str(path), f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_RECIPE_BYTES:
        raise RecipeError(str(path), f"is over {MAX_RECIPE_BYTES >> 20} MB, too big for a recipe (put long lists in entity files)")
    if b"\x00" in data:
        raise RecipeError(str(path), "is a binary file, not a YAML recipe")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(str(path), f"is not UTF-8 text (byte {exc.start})") from None
    return parse_recipe(text, str(path), base_dir=path.resolve().parent)


def parse_recipe(text: str, path: str = "<recipe>", base_dir: Path | None = None) -> Recipe:
    """Parse recipe YAML text; `path` is only used in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and expanded_size(node, {}) > MAX_VALUES:
            raise RecipeError(path, f"the recipe expands to over {MAX_VALUES:,} values (YAML aliases repeat what they point at)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(path, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise RecipeError(path, "invalid YAML: nested too deeply") from None
    if node is None or data is None:
        raise RecipeError(path, "the recipe is empty")
    if not isinstance(data, dict):
        raise RecipeError(path, f"a recipe is a mapping of keys (name, entities, slots, stages), not a {yaml_type(data)}", line=1)
    check_duplicate_keys(node, path, set())
    if "base_dir" in data:
        raise RecipeError(path, "base_dir is set from the recipe's location, not in the file", line=line_of(node, ("base_dir",)))
    try:
        recipe = Recipe.model_validate({**data, "base_dir": base_dir or Path.cwd()})
    except ValidationError as exc:
        raise validation_error(exc, node, path) from None
    recipe.__dict__["_source_node"] = node
    recipe.__dict__["_source_path"] = path
    return recipe


def yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds once every alias is expanded (a node shared by
    aliases counted each time it is used, but walked once)."""
    if id(node) not in sizes:
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        sizes[id(node)] = 1 + sum(expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def check_duplicate_keys(node: yaml.Node, path: str, walked: set[int]) -> None:
    """PyYAML silently keeps the last of two equal keys; a recipe author never means that."""
    if id(node) in walked:  # an alias of a node already checked
        return
    walked.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else id(key)
            if name in seen:
                raise RecipeError(path, f"key {key.value!r} appears twice", line=key.start_mark.line + 1)
            seen.add(name)
            check_duplicate_keys(value, path, walked)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            check_duplicate_keys(item, path, walked)


def line_of(node: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """The 1-based line of the deepest node reachable along `loc`."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value if not isinstance(value, yaml.ScalarNode) or value.value != "" else key
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def validation_error(
    exc: ValidationError, node: yaml.Node | None, path: str, model: type[BaseModel] = Recipe, prefix: tuple[Any, ...] = ()
) -> RecipeError:
    """The first pydantic error as one line: file:line: field: message."""
    errors = exc.errors()
    err = errors[0]
    union = next((i for i, part in enumerate(err["loc"]) if is_union_tag(part)), None)
    if union is not None:  # of a union's members, the one the value went furthest into ({file: ...} is an EntityFile)
        tried = [e for e in errors if e["loc"][:union] == err["loc"][:union]]
        err = max(tried, key=lambda e: sum(not is_union_tag(part) for part in e["loc"]))
    loc = tuple(p for p in err["loc"] if not is_union_tag(p))
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = unknown_key_message(model, loc)
    elif err["type"] == "missing":
        message = "is required"
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return RecipeError(path, message, line=line_of(node, prefix + loc), field=format_loc(prefix + loc))


def is_union_tag(part: Any) -> bool:
    """pydantic puts the union member tried ('list[str]', 'EntityFile') into error locations."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part in {"str", "int", "float", "function-after"})


def unknown_key_message(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    key = str(loc[-1]) if loc else "?"
    known = sorted(known_keys(model, loc[:-1]))
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else (f" (known: {', '.join(known)})" if known else "")
    return f"unknown key{hint}"


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models that an annotation (possibly a union, list or dict) can hold."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += models_in(arg)
    return found


def known_keys(model: type[BaseModel], parent: tuple[Any, ...]) -> set[str]:
    """The keys allowed at `parent` inside `model`, following fields through lists and dicts."""
    candidates: list[type[BaseModel]] = [model]
    for part in parent:
        fields = {(f.alias or n): f for c in candidates for n, f in c.model_fields.items()}
        if isinstance(part, str) and part in fields:
            candidates = models_in(fields[part].annotation)
        # otherwise a list index or a dict key: stay on the element models
    return {(f.alias or n) for c in candidates for n, f in c.model_fields.items() if n != "base_dir"}


def problem_to_error(problem: FieldProblem, recipe: Recipe) -> RecipeError:
    """Turn a FieldProblem found after validation into a RecipeError with a line, if known."""
    node = recipe.__dict__.get("_source_node")
    path = recipe.__dict__.get("_source_path", "<recipe>")
    line = line_of(node, problem.loc)
    if line is not None and problem.line_offset:
        line += problem.line_offset
    return RecipeError(path, problem.message, line=line, field=format_loc(problem.loc))
