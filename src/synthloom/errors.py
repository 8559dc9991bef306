"""User-facing errors: each becomes one line on stderr and exit code 2."""

from __future__ import annotations

__all__ = ["SynthloomError", "RecipeError", "ConfigError", "missing_extra"]


class SynthloomError(Exception):
    """An error caused by the user's input or environment, reported without a traceback."""

    exit_code = 2


class RecipeError(SynthloomError):
    """A recipe that cannot be loaded or validated; the message names the file and field."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = f"{path}:{line}" if line else path
        what = f" {field}:" if field else ""
        super().__init__(f"{where}:{what} {message}")


class ConfigError(SynthloomError):
    """A bad command-line option or backend setting (model file, server, key)."""


def missing_extra(extra: str, exc: ImportError) -> ConfigError:
    """The error for an optional dependency that is not installed."""
    return ConfigError(f"this needs the `{extra}` extra ({exc.name or exc} is not installed): "
                       f"pip install 'synthloom[{extra}]'")
