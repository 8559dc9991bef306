"""A backend's `options:` checked with a pydantic model: a wrong type or an unknown name is one line.

    class Options(BackendOptions):
        parallel: int = Field(1, ge=1)

    opts = parse_options(Options, spec.options)   # OptionError("backend.options.parallel: ...")

`api.make_backend` turns an OptionError into a recipe error with the file and line of the option.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError

__all__ = ["BackendOptions", "OptionError", "parse_options", "first_problem"]

T = TypeVar("T", bound="BackendOptions")


class BackendOptions(BaseModel):
    """Base for a backend's options: strict types (no "8" for 8, no "yes" for true), no unknown names."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OptionError(ConfigError):
    """A bad value under backend.options; `option` is its name (a path for nested values)."""

    def __init__(self, option: tuple[str | int, ...], message: str):
        self.option, self.detail = option, message
        super().__init__(f"backend.options.{'.'.join(map(str, option))}: {message}")


def parse_options(model: type[T], options: dict[str, Any]) -> T:
    """`options` as a `model`, or an OptionError naming the first bad option."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise OptionError(*first_problem(exc, model.model_fields)) from None


def first_problem(exc: ValidationError, known: Iterable[str]) -> tuple[tuple[str | int, ...], str]:
    """Where the first bad option is, and what is wrong with it, in one line."""
    error = exc.errors()[0]
    loc = tuple(error["loc"]) or ("?",)
    if error["type"] == "extra_forbidden":
        return loc, f"unknown option (known: {', '.join(known)})"
    got = repr(error.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return loc, f"{error['msg'][0].lower()}{error['msg'][1:]}, got {got}"
