"""Dataset-wide curation: steps that look at all kept records at once (dedup).

They run at export, over the records the store holds, in record order, so the first copy of a
duplicate is kept and the result is the same however many times the run was resumed. Dropped
records leave dataset.jsonl for rejected.jsonl with the step, the reason and the copy they
duplicate; the store itself is not changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigError, missing_extra, require_extra
from ..recipe.load import FieldProblem
from ..recipe.model import check_identifier
from ..stages.base import StageBase, StageContext
from ..stages.common import fingerprint_of
from ..store import Failure, Store

__all__ = ["DedupStep", "DedupConfig", "curate_dataset", "DatasetCuration"]

REASONS = {"exact": "duplicate_exact", "minhash": "near_duplicate", "semantic": "semantic_duplicate"}
THRESHOLDS = {"exact": 1.0, "minhash": 0.8, "semantic": 0.92}


class DedupConfig(BaseModel):
    """Recipe fields of a `dedup` step."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "dedup"
    name: str = "dedup"
    method: str = Field("minhash", pattern="^(exact|minhash|semantic)$")
    field: str = Field(description="the text to compare, e.g. story")
    threshold: float | None = Field(None, gt=0, le=1, description="Jaccard (minhash) or cosine (semantic); default 0.8 / 0.92")
    options: dict[str, Any] = Field(default_factory=dict, description="more deduper settings (num_perm, ngram, ...)")

    _names = field_validator("name", "field")(check_identifier)


class DedupStep(StageBase):
    """Drops exact, near (MinHash-LSH) or semantic duplicates of an earlier kept record."""

    Config: ClassVar[type[BaseModel]] = DedupConfig
    scope: ClassVar[Literal["record", "dataset"]] = "dataset"
    outputs: tuple[str, ...] = ()

    def __init__(self, config: DedupConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.inputs = frozenset({config.field})
        self.threshold = config.threshold if config.threshold is not None else THRESHOLDS[config.method]
        self.reason = REASONS[config.method]
        self.fingerprint = fingerprint_of(config.model_dump_json())
        try:
            from .dedup import OptionError, make_deduper
        except ImportError as exc:
            raise missing_extra("curate", exc) from None
        if config.method == "semantic":  # WordLlama, loaded only at export: say so before the run
            require_extra("corpus", "wordllama")
        threshold = None if config.method == "exact" else self.threshold
        try:
            self.deduper = make_deduper(config.method, threshold, **config.options)
        except OptionError as exc:
            raise FieldProblem(("options", exc.option), exc.detail) from None
        except ConfigError as exc:
            raise FieldProblem(("options",), str(exc)) from None


class DatasetCuration:
    """What the dataset steps decided: dropped record indices with their Failure, per-step stats."""

    def __init__(self) -> None:
        self.dropped: dict[int, Failure] = {}
        self.steps: dict[str, dict[str, Any]] = {}


def curate_dataset(store: Store, steps: list[DedupStep], n: int) -> DatasetCuration:
    """Run the dataset steps in order, each over the records the previous ones kept."""
    result = DatasetCuration()
    for step in steps:
        survivors: list[int] = []  # position in this step's input → record index
        found = step.deduper.dedup(texts_of(store, n, result.dropped, step.config.field, survivors))
        pairs = {survivors[d.index]: survivors[d.kept] for d in found.duplicates}
        rows = {idx: row for idx, row in rows_of(store, n, result.dropped) if idx in pairs or idx in pairs.values()}
        for dup in found.duplicates:
            idx = survivors[dup.index]
            result.dropped[idx] = Failure(id=rows[idx].get("id"), index=idx, stage=step.name, reason=step.reason,
                                          detail=f"{step.config.method} duplicate of {rows[pairs[idx]].get('id')} "
                                                 f"(similarity {dup.similarity:.3f})",
                                          transient=False, row=rows[idx])
        result.steps[step.name] = step_figures(step, found)
    return result


def texts_of(store: Store, n: int, dropped: dict[int, Failure], field: str, survivors: list[int]) -> Iterator[str]:
    """The texts of the records still kept, noting each one's record index in `survivors`."""
    for idx, row in rows_of(store, n, dropped):
        survivors.append(idx)
        yield text_of(row, field)


def step_figures(step: DedupStep, found: Any) -> dict[str, Any]:
    """What run.json says about one dedup step; a kept text and its dropped copies make a cluster."""
    copies = Counter(dup.kept for dup in found.duplicates)
    sizes = Counter(1 + count for count in copies.values())
    sizes[1] = found.clusters - len(copies)
    return {"method": step.config.method, "threshold": step.threshold, "field": step.config.field,
            "checked": found.total, "dropped": len(found.duplicates), "clusters": found.clusters,
            "cluster_sizes": {str(size): sizes[size] for size in sorted(sizes) if sizes[size]}}


def rows_of(store: Store, n: int, skip: dict[int, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for idx, text in store.iter_indexed_rows(n):
        if idx not in skip:
            yield idx, orjson.loads(text)


def text_of(row: dict[str, Any], field: str) -> str:
    value = row.get(field, "")
    return value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")
