"""Topic trees as entity lists: a saved (or hand-edited) tree file, read, checked and turned into
items (leaves, root-to-leaf paths, or every node); the tree prompt checked before any request.
Growing a tree with the LLM is run setup (synthloom.prepare.trees)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from ..files import write_text_atomic
from ..recipe.model import TopicTree
from ..templates import PromptTemplate, TemplateSyntaxProblem

__all__ = ["check_tree_prompt", "prompt_values", "tree_items", "load_tree", "save_tree", "tree_file"]

MAX_TREE_BYTES = 64 << 20
PROMPT_VARIABLES = frozenset({"path", "topic", "degree"})


def check_tree_prompt(spec: TopicTree) -> PromptTemplate:
    """The tree's prompt, compiled and rendered for the root: its errors are the recipe's, found
    before any request (ValueError with the reason)."""
    try:
        prompt = PromptTemplate(spec.prompt)
    except TemplateSyntaxProblem as exc:
        raise ValueError(f"template syntax error{f' (template line {exc.line})' if exc.line else ''}: {exc}") from None
    if prompt.refused:
        raise ValueError(f"template not allowed (template line {prompt.refused[1]}): {prompt.refused[0]}")
    unknown = sorted(prompt.variables - PROMPT_VARIABLES)
    if unknown:
        raise ValueError(f"template uses {{{{ {unknown[0]} }}}}; a tree prompt sees only path, topic and degree")
    try:
        prompt.render(prompt_values(spec, [spec.root]))
    except (TemplateError, ValueError) as exc:
        raise ValueError(f"does not render for the root topic: {exc}") from None
    return prompt


def prompt_values(spec: TopicTree, path: list[str]) -> dict[str, Any]:
    return {"path": path, "topic": path[-1], "degree": spec.degree}


def tree_items(tree: dict[str, Any], use: str) -> list[str]:
    """Leaves, root-to-leaf paths ("A > B > C"), or every node below the root."""
    items: list[str] = []

    def walk(node: dict[str, Any], path: list[str]) -> None:
        children = node.get("children") or []
        if path and (use == "all" or not children):
            items.append(" > ".join(path) if use == "paths" else path[-1])
        for child in children:
            walk(child, [*path, child["topic"]])

    walk(tree, [tree["topic"]] if use == "paths" else [])
    if use == "paths":
        items = [item for item in items if " > " in item]
    return list(dict.fromkeys(items))


def load_tree(path: Path) -> dict[str, Any]:
    """A saved (or hand-edited) tree; ValueError says what is wrong with it."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_TREE_BYTES + 1)
    if len(data) > MAX_TREE_BYTES:
        raise ValueError(f"is over {MAX_TREE_BYTES >> 20} MB, too big for a topic tree")
    try:
        tree: dict[str, Any] = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("is nested too deeply to be a topic tree") from None
    check_node(tree, "the tree")
    return tree


def check_node(node: Any, where: str, depth: int = 0) -> None:
    shape = 'a topic tree is an object {"topic": "...", "children": [...]}, and so is every child'
    if depth > 50:
        raise ValueError(f"{where} is more than 50 levels deep")
    if not isinstance(node, dict) or not isinstance(node.get("topic"), str) or not isinstance(node.get("children", []), list):
        raise ValueError(f"{shape} ({where} is not)")
    for i, child in enumerate(node.get("children") or []):
        check_node(child, f"child {i} of {node['topic']!r}", depth + 1)


def save_tree(tree: dict[str, Any], path: Path) -> None:
    write_text_atomic(path, json.dumps(tree, indent=2, ensure_ascii=False) + "\n")


def tree_file(out: Path, name: str) -> Path:
    """Where a run saves the tree it grew for entity list `name`."""
    return out / f"{name}_tree.json"
