"""The recipe schema (pydantic). A YAML recipe maps 1:1 onto these models."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Recipe",
    "CardSpec",
    "BackendSpec",
    "BatchSettings",
    "Price",
    "GenerationParams",
    "EntityFile",
    "HubEntity",
    "WeightedItems",
    "SlotSpec",
    "StageSpec",
    "TopicTree",
    "TreeEntity",
    "CorpusSpec",
    "ChunksEntity",
]

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_path(value: str | None) -> str | None:
    """A file name the OS can open: no NUL character (Python refuses those before the OS sees them)."""
    if value is not None and "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return value


def check_json(value: Any) -> Any:
    """What goes into a request as is must be JSON a request can carry: numbers within 64 bits."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValueError(f"cannot be sent in a request ({exc})") from None
    return value


# Sampling keys of `extra` that llama.cpp and the OpenAI-compatible servers (vLLM, llama.cpp's
# server, SGLang) read as numbers: a wrong type is a recipe error now, not a failed record later
# (llama.cpp's ctypes call raised on every record).
NUMERIC_EXTRA = {"top_k": int, "min_p": float, "typical_p": float, "repeat_penalty": float,
                 "frequency_penalty": float, "presence_penalty": float, "repetition_penalty": float}


def check_extra(value: dict[str, Any]) -> dict[str, Any]:
    """`extra` goes into requests as is: JSON, and the sampling keys backends read as numbers are numbers."""
    check_json(value)
    for key, kind in NUMERIC_EXTRA.items():
        given = value.get(key)
        if given is None:
            continue
        if isinstance(given, bool) or not isinstance(given, (int, float)) or (kind is int and not isinstance(given, int)):
            raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {given!r}")
    return value


def check_identifier(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits, underscore; not starting with a digit)")
    return value


class GenerationParams(Strict):
    """Sampling parameters for one stage; None leaves the backend's default."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0, lt=2**31)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(None, ge=0, lt=2**32, description="fixed seed for every record; default: derived per record")
    extra: dict[str, Any] = Field(default_factory=dict, description="passed to the backend as is")
    backend: str | None = Field(None, description="a name from the recipe's `backends`; default: `backend`")

    _check_extra = field_validator("extra")(check_extra)

    def merged_over(self, defaults: GenerationParams) -> GenerationParams:
        """These params, with unset fields taken from `defaults`."""
        data = defaults.model_dump()
        data.update(self.model_dump(exclude_unset=True))
        return GenerationParams(**data)


class BatchSettings(Strict):
    """How `batch: true` groups requests and waits for the provider (defaults suit a real provider)."""

    max_lines: int | None = Field(None, gt=0, description="requests per batch (default: the provider's limit)")
    max_bytes: int | None = Field(None, gt=0, description="bytes per batch file (default: the provider's limit)")
    collect_seconds: float = Field(2.0, gt=0, description="a batch goes once no request of its stage came for this long")
    poll_interval: float = Field(5.0, gt=0, description="seconds before the first status check; then 1.5x longer each time")
    poll_max: float = Field(60.0, gt=0, description="the longest wait between two status checks")
    in_flight: int = Field(20_000, gt=0, description="records in flight at once (their requests fill the batches)")
    grace_seconds: float = Field(3600.0, ge=0, description="how long past its completion_window a batch is waited for "
                                                          "before the run stops (its id is kept: a re-run follows it)")


class BackendSpec(Strict):
    """Which LLM to call. The API key is never stored here, only the env var that holds it."""

    kind: str = "embedded"
    model: str | None = Field(None, description="GGUF path (embedded) or model name (openai)")
    base_url: str | None = Field(None, description="server URL (openai); several, as a list or separated by commas, "
                                                  "make a fleet with load balancing and failover")
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = Field(120.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")
    rpm: int | None = Field(None, gt=0, description="requests per minute to pace this backend to (default: no limit)")
    tpm: int | None = Field(None, gt=0, description="prompt + completion tokens per minute to pace this backend to "
                                                      "(default: no limit)")
    adaptive: bool = Field(True, description="AIMD concurrency: halve the requests in flight on 429, 503, timeouts or "
                                             "rising latency, add one back per round trip, up to --concurrency")
    latency_tolerance: float | None = Field(3.0, gt=1, description="latency (smoothed) this many times its lowest recent "
                                                                    "value counts as overload; null: ignore latency")
    batch: bool = Field(False, description="send through the provider's batch API (openai, anthropic): half the price, "
                                           "answers within completion_window")
    completion_window: str = Field("24h", description="the batch API's completion window (OpenAI: 24h)")
    batch_settings: BatchSettings = Field(default_factory=BatchSettings)

    @field_validator("base_url", mode="before")
    @classmethod
    def join_base_urls(cls, value: Any) -> Any:
        """A list of URLs, or `URL1, URL2`, is kept as one comma-separated string: `URL1,URL2`."""
        if isinstance(value, (list, tuple)):
            if not value or not all(isinstance(url, str) for url in value):
                raise ValueError("must be a URL or a list of URLs")
            value = ",".join(value)
        if isinstance(value, str) and "," in value:
            urls = [url.strip() for url in value.split(",") if url.strip()]
            value = ",".join(urls) if urls else value  # no URL at all: the backend says so
        return value


class Price(Strict):
    """What a model costs, in dollars per 1M tokens."""

    input: float = Field(ge=0, description="$ per 1M prompt tokens")
    output: float = Field(ge=0, description="$ per 1M completion tokens")
    cached_input: float | None = Field(None, ge=0, description="$ per 1M prompt tokens read from the provider's prompt "
                                                             "cache (default: the input price)")
    cache_write: float | None = Field(None, ge=0, description="$ per 1M prompt tokens written to the prompt cache "
                                                            "(default: the input price)")
    batch_input: float | None = Field(None, ge=0, description="$ per 1M prompt tokens through a batch API "
                                                            "(default: half the input price)")
    batch_output: float | None = Field(None, ge=0, description="$ per 1M completion tokens through a batch API "
                                                             "(default: half the output price)")


class EntityFile(Strict):
    """An entity list from a file (relative to the recipe): a text file, one item per line, or a
    data file (.jsonl .json .csv .tsv .parquet .arrow, a `datasets` directory), one item per row."""

    file: str
    columns: list[str] | None = Field(None, min_length=1, description="data files: the columns to keep (default: all)")
    column: str | None = Field(None, min_length=1, description="data files: one column, whose values make a plain list")
    where: str | dict[str, Any] | None = Field(None, description="data files: the rows to keep, e.g. \"label != ''\"")
    split: str | None = Field(None, description="a `datasets` DatasetDict directory: the split (default train)")

    _check_path = field_validator("file")(check_path)

    @model_validator(mode="after")
    def column_or_columns(self) -> EntityFile:
        if self.column is not None and self.columns is not None:
            raise ValueError("give `column` (one column as a plain list) or `columns` (rows as mappings), not both")
        return self


class HubEntity(Strict):
    """A Hugging Face Hub dataset by name (needs the network or a local HF cache, and `datasets`)."""

    hub: str = Field(min_length=1)
    config: str | None = None
    split: str = "train"
    columns: list[str] | None = Field(None, min_length=1)
    column: str | None = Field(None, min_length=1)
    where: str | dict[str, Any] | None = None


class WeightedItems(Strict):
    """Items with relative weights, for the weighted sampler."""

    weights: dict[str, float]

    @field_validator("weights")
    @classmethod
    def positive(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be > 0 (not for {', '.join(bad)})")
        return weights


class TopicTree(Strict):
    """A topic tree the LLM grows from a root at run time; its leaves (or paths) become the list."""

    root: str = Field(min_length=1)
    depth: int = Field(2, ge=1, le=5)
    degree: int = Field(3, ge=1, le=20, description="subtopics asked for per node")
    use: Literal["leaves", "paths", "all"] = "leaves"
    prompt: str = Field(
        "List {{ degree }} distinct, specific subtopics of the topic \"{{ path | join(' > ') }}\". "
        "Write one subtopic per line, with no numbering and no explanations.",
        description="template; sees `path` (root to node), `topic` (the node) and `degree`",
    )
    similarity: float = Field(0.85, gt=0, le=1, description="siblings at least this similar are merged")
    params: GenerationParams = Field(default_factory=lambda: GenerationParams(temperature=0.7, max_tokens=200))
    file: str | None = Field(None, description="a saved tree (JSON) to use instead of generating one")

    _check_path = field_validator("file")(check_path)


class TreeEntity(Strict):
    """The `{tree: {...}}` form of an entity list."""

    tree: TopicTree


class ChunkSelect(Strict):
    """Which chunks of the corpus make the list (all, by default)."""

    docs: list[str] = Field(default_factory=list, description="glob patterns on document paths, e.g. ['biology/*']")
    min_tokens: int = Field(0, ge=0, description="leave out chunks shorter than this")


class ChunksEntity(Strict):
    """The `{chunks: {...}}` form of an entity list: the chunks of the recipe's corpus."""

    chunks: ChunkSelect = Field(default_factory=ChunkSelect)


class CorpusSpec(Strict):
    """Documents to ground generation in: an ingested corpus, or documents ingested at run time."""

    path: str = Field(min_length=1, description="a directory made by `synthloom ingest`, or documents (relative to the recipe)")
    chunk_tokens: int = Field(256, ge=16, le=8192, description="token budget of a chunk, when ingesting documents")
    overlap: int = Field(32, ge=0, description="tokens shared by neighbouring chunks, when ingesting documents")

    _check_path = field_validator("path")(check_path)

    @model_validator(mode="before")
    @classmethod
    def from_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


EntityItem = str | dict[str, str]
"""An entity is text, or a mapping of texts used as {{ slot.key }} (e.g. a pair of roles)."""

EntitySpec = list[EntityItem] | EntityFile | HubEntity | WeightedItems | TreeEntity | ChunksEntity


class SlotSpec(Strict):
    """How each record fills one slot from an entity list."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from")
    sampler: Literal["uniform", "weighted", "coverage", "each"] = "uniform"
    k: int = Field(1, ge=1, description="number of distinct items; k > 1 gives a list (per label with `stratify`)")
    per_row: int = Field(1, ge=1, le=1000, description="sampler each: records made from each row")
    stratify: str | None = Field(None, min_length=1, description="a column of the rows: k distinct items per value")


class StageSpec(BaseModel):
    """The common part of every stage; each stage kind validates the rest itself."""

    model_config = ConfigDict(extra="allow")

    kind: str = "generate"
    name: str = Field("", description="default: the kind")

    @model_validator(mode="after")
    def name_from_kind(self) -> StageSpec:
        self.name = check_identifier(self.name or self.kind)
        return self


class CardSpec(Strict):
    """What the dataset card (README.md) says that the run cannot know: the dataset's own licence and so on."""

    license: str = Field("unknown", min_length=1, description="the dataset's licence, a Hub identifier (apache-2.0, "
                         "cc-by-4.0, mit, other, ...); the generators' terms are stated beside it")
    language: list[str] = Field(default_factory=list, description="ISO 639-1 codes; default: detected (curate extra)")
    task_categories: list[str] = Field(default_factory=list, description="Hub task categories; default: from the fields")
    tags: list[str] = Field(default_factory=list, description="added to `synthetic`, `synthloom` and the recipe's name")
    pretty_name: str | None = None


class Recipe(Strict):
    """A whole recipe: entity lists, how slots sample them, stages, backend, seed."""

    name: str
    description: str = ""
    seed: int = 0
    backend: BackendSpec = Field(default_factory=BackendSpec)
    backends: dict[str, BackendSpec] = Field(default_factory=dict, description="more backends, named, for `params.backend`")
    params: GenerationParams = Field(default_factory=GenerationParams, description="defaults for every stage")
    corpus: CorpusSpec | None = Field(None, description="documents for `chunks` entities and retrieval stages")
    prices: dict[str, Price] = Field(default_factory=dict, description="$ per 1M tokens by model name ('*': any model)")
    entities: dict[str, EntitySpec] = Field(default_factory=dict)
    slots: dict[str, str | SlotSpec] = Field(default_factory=dict)
    stages: list[StageSpec] = Field(min_length=1)
    curate: list[StageSpec] = Field(default_factory=list, description="checks, filters, judges and dedup after the stages")
    card: CardSpec = Field(default_factory=CardSpec, description="the dataset card's licence, language, tasks, tags")
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True, description="where relative files are")

    @field_validator("name")
    @classmethod
    def name_is_a_file_name(cls, value: str) -> str:
        """The name makes record ids and the default output directory (runs/NAME): one plain file name."""
        bad = next((c for c in value if c in "/\\" or unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if not value.strip() or value.strip(".") == "" or bad is not None or len(value) > 200:
            why = (f"the character {bad!r}" if bad is not None else "over 200 characters" if len(value) > 200
                   else "only dots" if value.strip() else "empty")
            raise ValueError(f"{value[:40]!r} cannot name a run ({why}): use letters, digits, '-' and '_'")
        return value

    @field_validator("entities", "slots")
    @classmethod
    def names_are_identifiers(cls, mapping: dict[str, Any]) -> dict[str, Any]:
        for key in mapping:
            check_identifier(key)
        return mapping

    def slot_specs(self) -> dict[str, SlotSpec]:
        """Slots with the `slot: list_name` shorthand expanded."""
        return {
            name: SlotSpec(source=spec) if isinstance(spec, str) else spec for name, spec in self.slots.items()
        }
