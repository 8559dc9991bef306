"""The installed package's version, read from its metadata (once, and only when asked)."""

from __future__ import annotations

from functools import cache

__all__ = ["package_version"]

UNKNOWN = "0+unknown"  # running from a source tree that was never installed


@cache
def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~25 ms: not at import time

    try:
        return version("synthloom")
    except PackageNotFoundError:
        return UNKNOWN
