"""What a dataset card says, gathered from a run directory's files in one pass over each: the
models that wrote the kept records, entity coverage and label balance, cheap diversity figures on
a seeded sample, the language, and the run's own summary (run.json) and recipe."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

__all__ = ["CardFacts", "RunFiles", "gather_facts", "SAMPLE"]

SAMPLE = 500  # texts the diversity figures and the language guess are computed on
LABEL_SLOTS = ("label", "labels", "sentiment", "class", "intent", "polarity", "category_label")


@dataclass
class RunFiles:
    """Where a run's files are: a run directory's, or the temp names an export is writing."""

    dataset: Path
    lineage: Path | None = None
    recipe: Path | None = None
    metrics: Path | None = None
    parquet: Path | None = None

    @classmethod
    def of(cls, run: Path) -> RunFiles:
        return cls(run / "dataset.jsonl", run / "lineage.jsonl", run / "recipe.yaml", run / "metrics.json",
                   run / "dataset.parquet")

    @classmethod
    def staged(cls, files: list[tuple[Path, Path]], run: Path) -> RunFiles:
        """The files an export is writing, by their temp names ((temp, final) pairs); metrics.json as it is."""
        temp = {final.name: tmp for tmp, final in files}
        return cls(temp["dataset.jsonl"], temp.get("lineage.jsonl"), temp.get("recipe.yaml"), run / "metrics.json",
                   temp.get("dataset.parquet"))


@dataclass
class CardFacts:
    """Everything the card states, as plain values."""

    summary: dict[str, Any]
    recipe: dict[str, Any]
    card: dict[str, Any]
    kept: int = 0
    models: Counter = field(default_factory=Counter)  # model → calls that made the kept records
    values: dict[str, Counter] = field(default_factory=dict)  # slot → how often each value was used
    text_field: str | None = None
    diversity: dict[str, Any] = field(default_factory=dict)
    languages: Counter = field(default_factory=Counter)
    fields: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None  # metrics.json of `synthloom report`, when it describes this dataset

    @property
    def schema(self) -> dict[str, Any]:
        schema = self.summary.get("schema")
        return schema if isinstance(schema, dict) else {}

    @property
    def slots(self) -> dict[str, dict[str, Any]]:
        """run.json's slots with their list, size (None when not a number) and k (1 when not a number)."""
        found = self.schema.get("slots")
        return {str(name): {"list": info.get("list"), "size": info["size"] if isinstance(info.get("size"), int) else None,
                            "k": info["k"] if isinstance(info.get("k"), int) else 1}
                for name, info in (found.items() if isinstance(found, dict) else []) if isinstance(info, dict)}


def gather_facts(files: RunFiles, summary: dict[str, Any], detect_language: bool = True) -> CardFacts:
    """Read the dataset (Parquet columns, else JSON Lines) and the lineage once each, streaming, and the
    recipe and metrics files if present. `detect_language` loads py3langid's model (seconds): `synthloom
    card` and `report` do, an export does not (it must stay a small part of a run's time)."""
    recipe = read_recipe(files.recipe)
    facts = CardFacts(summary, recipe, card_settings(recipe))
    slots = {name: info["k"] for name, info in facts.slots.items()}
    facts.values = {slot: Counter() for slot in slots}
    facts.text_field = next((f for f in facts.schema.get("text_fields") or [] if isinstance(f, str)), None)
    sample = read_parquet(files.parquet, facts, slots)
    if sample is None:
        sample = read_dataset_jsonl(files.dataset, facts, slots)
    facts.models = count_models(files.lineage)
    facts.diversity = cheap_diversity(sample)
    facts.languages = detect_languages(sample) if detect_language else Counter()
    facts.report = matching_report(files.metrics, summary, facts.kept)
    return facts


def read_parquet(path: Path | None, facts: CardFacts, slots: dict[str, int]) -> list[str] | None:
    """Counts from dataset.parquet's columns (pyarrow, a batch at a time) and the seeded text sample;
    None when there is no readable file (the JSON Lines are read instead)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path) if path is not None and path.is_file() else None
    except (OSError, pa.ArrowException):
        parquet = None
    if parquet is None:
        return None
    names = parquet.schema_arrow.names
    facts.kept, facts.fields = parquet.metadata.num_rows, [name for name in names if name != "id"]
    if not facts.kept:
        return []
    if facts.text_field not in names:
        first = next(parquet.iter_batches(batch_size=1)).to_pylist()[0]
        facts.text_field = longest_text_field(first, set(slots))
    columns = [name for name in (*slots, facts.text_field) if name in names]
    picks = sorted(random.Random(0).sample(range(facts.kept), min(SAMPLE, facts.kept)))
    sample, offset = [], 0
    for batch in parquet.iter_batches(batch_size=10_000, columns=list(dict.fromkeys(columns))):
        for slot, k in slots.items():
            if slot in batch.schema.names:
                count_column(batch.column(slot), facts.values[slot], k)
        if facts.text_field in batch.schema.names:
            here = [i - offset for i in picks if offset <= i < offset + batch.num_rows]
            column = batch.column(facts.text_field)
            sample += [t for t in (as_text(column[i].as_py()) for i in here) if t is not None]
        offset += batch.num_rows
    return sample


def count_column(column: Any, counter: Counter, k: int) -> None:
    """A slot's values in one batch: text and lists of text straight from Arrow; anything else (a dict item,
    a list stored as JSON text when the rows' types disagreed) through as_values."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
        counter.update(v for v in column.flatten().to_pylist() if v is not None)
    elif pa.types.is_string(kind) and k == 1:
        counter.update(v for v in column.to_pylist() if v is not None)
    else:
        for value in column.to_pylist():
            if isinstance(value, str) and k > 1 and value.startswith("["):
                value = orjson.loads(value)
            counter.update(as_values(value))


def read_dataset_jsonl(path: Path, facts: CardFacts, slots: dict[str, int]) -> list[str]:
    """The same facts from dataset.jsonl, row by row (no Parquet file), with a seeded reservoir sample."""
    sample: list[str] = []
    rng = random.Random(0)
    for row in read_jsonl(path):
        facts.kept += 1
        if facts.kept == 1:
            facts.fields = [k for k in row if k != "id"]
            facts.text_field = facts.text_field or longest_text_field(row, set(slots))
        for slot in slots:
            facts.values[slot].update(as_values(row.get(slot)))
        if len(sample) < SAMPLE or (j := rng.randrange(facts.kept)) < SAMPLE:
            text = as_text(row.get(facts.text_field)) if facts.text_field else None
            if text is not None:
                sample.append(text) if len(sample) < SAMPLE else sample.__setitem__(j, text)
    return sample


def count_models(lineage: Path | None) -> Counter:
    """Calls per model in lineage.jsonl, parsing only each line's `calls` (its last key), not the row before
    it: a quoted `"calls":` can only be a key there, since quotes inside strings are escaped."""
    models: Counter = Counter()
    if lineage is None or not lineage.is_file():
        return models
    with open(lineage, "rb") as handle:
        for line in handle:
            at = line.rfind(b'"calls":')
            if at >= 0:
                models.update(str(call.get("model") or "unknown") for call in orjson.loads(b"{" + line[at:])["calls"])
    return models


def longest_text_field(row: dict[str, Any], slots: set[str]) -> str | None:
    """When run.json names no text field (a chat's `messages`): the generated field with the most text."""
    texts = {k: as_text(v) for k, v in row.items() if k != "id" and k not in slots}
    found = {k: len(v) for k, v in texts.items() if v}
    return max(found, key=found.__getitem__) if found else None


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                row = orjson.loads(line)
                if isinstance(row, dict):
                    yield row


def read_recipe(path: Path | None) -> dict[str, Any]:
    """recipe.yaml as plain data (its entity files are not read: the card only describes them)."""
    if path is None or not path.is_file():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def card_settings(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's `card:` section, with the recipe model's defaults."""
    from ..recipe.model import CardSpec

    try:
        return CardSpec(**(recipe.get("card") or {})).model_dump()
    except (TypeError, ValueError):
        return CardSpec().model_dump()


def as_values(value: Any) -> list[str]:
    """A slot's value(s) as strings: k > 1 slots hold lists; dict items (personas, chunks) by their JSON."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [item if isinstance(item, str) else json.dumps(item, sort_keys=True, ensure_ascii=False)[:200] for item in items]


def as_text(value: Any) -> str | None:
    """A field as text: a string, a chat's contents joined, or a structured reply's strings joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        strings = [v for v in value.values() if isinstance(v, str)]
        return "\n".join(strings) if strings else None
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
        return "\n".join(m["content"] for m in value)
    return None


def cheap_diversity(texts: list[str]) -> dict[str, Any]:
    """distinct-1/2/3, compression ratio and mean words: no extra needed, linear in the sample."""
    from ..metrics.diversity import compression_ratio, distinct_n, words

    if not texts:
        return {}
    tokenized = [words(t) for t in texts]
    return {"sample": len(texts), "mean_words": round(sum(map(len, tokenized)) / len(tokenized), 1),
            **{f"distinct_{n}": rounded(distinct_n(tokenized, n)) for n in (1, 2, 3)},
            "compression_ratio": rounded(compression_ratio(texts))}


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def detect_languages(texts: list[str]) -> Counter:
    """Language of each sampled text with py3langid (the curate extra); empty without it."""
    from ..errors import SynthloomError

    try:
        from ..curate.filters.language import identify_language

        found = (identify_language(text[:2000]) for text in texts if text.strip())
        return Counter(language for language, probability in found if probability >= 0.5)
    except (ImportError, SynthloomError):  # no curate extra: the card says the language is not detected
        return Counter()


def matching_report(path: Path | None, summary: dict[str, Any], kept: int) -> dict[str, Any] | None:
    """metrics.json when `synthloom report` wrote it for this very dataset (same recipe, n and kept count)."""
    if path is None or not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    same = (metrics.get("recipe"), metrics.get("n"), metrics.get("kept")) == (summary.get("recipe"), summary.get("n"), kept)
    return metrics if same else None
