"""What a recipe's or the CLI's `options` may set on each deduper, checked before any record is made.

A dedup step runs at export, after generation: an option of the wrong type ("3" for 3, a float
n-gram) must fail when the recipe is read, not as a traceback once the records exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs it for TypedDicts before Python 3.12

from ...backends.options import first_problem
from ...errors import ConfigError

__all__ = ["ExactOptions", "MinHashOptions", "SemanticOptions", "OptionError", "check_options"]

T = TypeVar("T")
STRICT = ConfigDict(extra="forbid", strict=True)  # no "3" for 3, no "no" for false, no unknown names


@with_config(STRICT)
class ExactOptions(TypedDict, total=False):
    ignore_punctuation: bool
    ignore_case: bool


@with_config(STRICT)
class MinHashOptions(TypedDict, total=False):
    num_perm: int
    ngram: int
    seed: int
    bands: int | None
    batch_size: int
    bucket_window: int
    recall: float | None


@with_config(STRICT)
class SemanticOptions(TypedDict, total=False):
    batch_size: int
    block_rows: int  # the embedder is a Python object: SemanticDeduper(embedder=...), not an option


class OptionError(ConfigError):
    """A bad dedup option; `option` is its name."""

    def __init__(self, option: str, message: str):
        self.option, self.detail = option, message
        super().__init__(f"options.{option}: {message}")


def check_options(kind: type[T], options: Mapping[str, object]) -> T:
    """`options` as the typed dict `kind`, or an OptionError naming the first bad one."""
    try:
        return TypeAdapter(kind).validate_python(dict(options))
    except ValidationError as exc:
        loc, message = first_problem(exc, kind.__annotations__)
        raise OptionError(".".join(map(str, loc)), message) from None
