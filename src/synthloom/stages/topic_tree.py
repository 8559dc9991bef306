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

from jinja2 import TemplateError

from ..backends.base import Request, Response
from ..record import Record
from ..recipe.model import TopicTree
from ..templates import PromptTemplate, TemplateSyntaxProblem
from .base import StageContext
from .common import RequestMaker

__all__ = ["grow_tree", "tree_items", "parse_subtopics", "load_tree", "save_tree", "check_tree_prompt"]

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
        topic = head_of(topic, listed=BULLET.match(line) is not None)
        if not topic or len(topic) > 80 or len(topic.split()) > 10:
            continue
        if not words_of(topic) - context or any(near(topic, other, context, similarity) for other in kept):
            continue  # the parent again, or a sibling we already have
        kept.append(topic)
        if len(kept) == degree:
            break
    return kept


CLAUSE = re.compile(r" - | – |: |; |, | \(| and | in | with | that | which | through | as ", re.IGNORECASE)


def head_of(topic: str, listed: bool) -> str:
    """A long line's subtopic: before " - " or ": "; for a list item, its leading noun phrase (small
    models write "1. The nature of knowledge and its role in shaping ..."). Short lines stay whole."""
    if len(topic) > 60:
        topic = topic.split(" - ")[0].split(": ")[0].strip()
    while listed and (len(topic) > 60 or len(topic.split()) > 8):
        cut = next((m.start() for m in CLAUSE.finditer(topic) if len(topic[: m.start()].split()) >= 2), None)
        if cut is None:
            break
        topic = topic[:cut].strip()
    return topic


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


async def grow_tree(spec: TopicTree, context: StageContext, call_all: CallAll) -> dict[str, Any]:
    """Ask for subtopics of every node of a level at once, `depth` levels deep."""
    maker = RequestMaker.for_stage("topic_tree", spec.params, context)
    prompt = check_tree_prompt(spec)
    root: dict[str, Any] = {"topic": spec.root, "children": []}
    level: list[tuple[dict[str, Any], list[str]]] = [(root, [spec.root])]
    for depth in range(spec.depth):
        asked, requests = [], []
        for node, path in level:
            try:  # a subtopic the LLM named can still break a prompt (one too long): that node stays a leaf
                content = prompt.render(prompt_values(spec, path))
            except (TemplateError, ValueError):
                continue
            asked.append((node, path))
            requests.append(maker.request([{"role": "user", "content": content}], Record(0, "tree", {}), "node", " > ".join(path)))
        responses = await call_all(requests)
        next_level = []
        for (node, path), response in zip(asked, responses):
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
    """A saved (or hand-edited) tree; ValueError says what is wrong with it."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_TREE_BYTES + 1)
    if len(data) > MAX_TREE_BYTES:
        raise ValueError(f"is over {MAX_TREE_BYTES >> 20} MB, too big for a topic tree")
    try:
        tree = json.loads(data.decode("utf-8"))
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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(tree, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
