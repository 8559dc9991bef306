"""Topic trees: from a root topic the LLM proposes subtopics, level by level, to a depth.

Philosophy → Eastern / Western → Vedic / Buddhist / Taoist ... Siblings that are near
duplicates ("Buddhism", "Buddhist philosophy") are merged. The tree is saved as JSON next to the
dataset, where it can be edited: a later run reuses the saved file instead of asking again. Its
leaves, root-to-leaf paths, or all its nodes become an entity list for the record stages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..backends.base import Request, Response
from ..record import Record
from ..recipe.model import TopicTree
from ..templates import PromptTemplate
from .base import StageContext
from .common import RequestMaker

__all__ = ["grow_tree", "tree_items", "parse_subtopics", "load_tree", "save_tree"]

CallAll = Callable[[list[Request]], Awaitable[list[Response | None]]]
STOPWORDS = frozenset({"the", "a", "an", "and", "of", "in", "on", "to", "for", "its", "with"})
PREAMBLES = ("here are", "here is", "sure", "certainly", "of course", "subtopics", "the following")
BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)]|[a-z][.)])\s*", re.IGNORECASE)


def parse_subtopics(text: str, parent: str, degree: int, similarity: float) -> list[str]:
    """Clean one reply into at most `degree` distinct subtopics."""
    kept: list[str] = []
    context = words_of(parent)
    for line in text.splitlines():
        if line.rstrip().endswith(":") or line.strip().lower().startswith(PREAMBLES):
            continue  # "Here are three subtopics of ...:" introduces the list, it is not in it
        topic = BULLET.sub("", line).strip().strip("\"'*").rstrip(".:;,").strip()
        topic = topic.split(" - ")[0].split(": ")[0].strip() if len(topic) > 60 else topic
        if not topic or len(topic) > 80 or len(topic.split()) > 10:
            continue
        if not words_of(topic) - context or any(near(topic, other, context, similarity) for other in kept):
            continue  # the parent again, or a sibling we already have
        kept.append(topic)
        if len(kept) == degree:
            break
    return kept


def stem(word: str) -> str:
    for suffix in ("isms", "ism", "ists", "ist", "ies", "es", "s", "al", "ic", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words_of(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z0-9]+", text.lower())} - STOPWORDS


def near(a: str, b: str, context: set[str], similarity: float) -> bool:
    """Near-duplicate siblings: the same stemmed words once the parent's words are set aside
    ("Buddhism" and "Buddhist philosophy" under "Eastern philosophy"), or a Jaccard overlap of
    at least `similarity`. Letters alone would merge "Eastern" with "Western"."""
    wa, wb = words_of(a) - context or words_of(a), words_of(b) - context or words_of(b)
    return len(wa & wb) / max(1, len(wa | wb)) >= similarity


async def grow_tree(spec: TopicTree, context: StageContext, call_all: CallAll) -> dict[str, Any]:
    """Ask for subtopics of every node of a level at once, `depth` levels deep."""
    maker = RequestMaker.for_stage("topic_tree", spec.params, context)
    prompt = PromptTemplate(spec.prompt)
    root: dict[str, Any] = {"topic": spec.root, "children": []}
    level: list[tuple[dict[str, Any], list[str]]] = [(root, [spec.root])]
    for depth in range(spec.depth):
        requests = [
            maker.request([{"role": "user", "content": prompt.render({"path": path, "topic": node["topic"], "degree": spec.degree})}],
                          Record(0, "tree", {}), "node", " > ".join(path))
            for node, path in level
        ]
        responses = await call_all(requests)
        next_level = []
        for (node, path), response in zip(level, responses):
            if response is None:
                continue  # that node stays a leaf; the failure is in the store
            for topic in parse_subtopics(response.text, node["topic"], spec.degree, spec.similarity):
                child = {"topic": topic, "children": []}
                node["children"].append(child)
                next_level.append((child, [*path, topic]))
        level = next_level
    return root


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
    tree = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(tree, dict) or "topic" not in tree:
        raise ValueError('a topic tree is an object {"topic": ..., "children": [...]}')
    return tree


def save_tree(tree: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(tree, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
