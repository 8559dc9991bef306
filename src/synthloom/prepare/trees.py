"""Growing topic trees (run setup): from a root topic the LLM proposes subtopics, level by level.

Philosophy → Eastern / Western → Vedic / Buddhist / Taoist ... Siblings that are near
duplicates ("Buddhism", "Buddhist philosophy") are merged. The tree is saved as JSON next to the
dataset, where it can be edited: a later run reuses the saved file instead of asking again. Its
leaves, root-to-leaf paths, or all its nodes become an entity list for the record stages.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from ..backends.base import Request, Response
from ..errors import ConfigError
from ..recipe.model import Recipe, TopicTree, TreeEntity
from ..record import Record
from ..sampling.trees import check_tree_prompt, load_tree, prompt_values, save_tree, tree_file, tree_items
from ..stages.base import StageContext
from ..stages.common import RequestMaker

__all__ = ["grow_tree", "grow_trees", "trees_to_grow", "parse_subtopics"]

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


async def grow_tree(spec: TopicTree, context: StageContext, call_all: CallAll) -> dict[str, Any]:
    """Ask for subtopics of every node of a level at once, `depth` levels deep."""
    maker = RequestMaker.for_stage("topic_tree", spec.params, context)
    prompt = check_tree_prompt(spec)
    root: dict[str, Any] = {"topic": spec.root, "children": []}
    level: list[tuple[dict[str, Any], list[str]]] = [(root, [spec.root])]
    for _level in range(spec.depth):
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




def trees_to_grow(recipe: Recipe, out: Path) -> dict[str, TopicTree]:
    """Topic trees this run has to ask the LLM for (not given as a file, not saved before)."""
    return {
        name: spec.tree for name, spec in recipe.entities.items()
        if isinstance(spec, TreeEntity) and not spec.tree.file and not tree_file(out, name).exists()
    }


async def grow_trees(recipe: Recipe, trees: dict[str, TopicTree], out: Path, call_all: CallAll,
                     context: StageContext) -> dict[str, list[str]]:
    """Grow the missing trees, save them as OUT/NAME_tree.json, and read every saved one back."""
    generated: dict[str, list[str]] = {}
    for name, spec in recipe.entities.items():
        if not isinstance(spec, TreeEntity) or spec.tree.file:
            continue
        path = tree_file(out, name)
        if name in trees:
            save_tree(await grow_tree(spec.tree, context, call_all), path)
        try:
            generated[name] = tree_items(load_tree(path), spec.tree.use)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return generated
