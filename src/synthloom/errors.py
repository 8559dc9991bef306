"""User-facing errors: each becomes one line on stderr and exit code 2."""

from __future__ import annotations

__all__ = ["SynthloomError", "RecipeError", "ConfigError", "RunStopped", "RecordError", "StageFailed", "missing_extra",
           "require_extra"]


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


class RunStopped(SynthloomError):
    """A run that was set up right but could not go on (the key refused, a server away too long,
    the disk full, a Ray worker lost); everything stored so far is kept and a re-run resumes."""


class RecordError(Exception):
    """Raised by a stage's render or parse for a record it cannot handle (its values do not fit
    the template, a value it cannot read): the record is rejected, the run goes on."""


class StageFailed(Exception):
    """A stage raised an exception it does not declare: a bug, which stops the run.

    Not a SynthloomError: the CLI prints it as one line naming the stage and record, and the
    traceback of `__cause__` with --debug.
    """

    exit_code = 1

    def __init__(self, stage: str, record: str, error: BaseException):
        self.stage, self.record, self.error = stage, record, error
        super().__init__(f"stage {stage!r} failed on record {record}: {type(error).__name__}: {error}")


def missing_extra(extra: str, exc: ImportError) -> ConfigError:
    """The error for an optional dependency that is not installed."""
    return ConfigError(f"this needs the `{extra}` extra ({exc.name or exc} is not installed): "
                       f"pip install 'synthloom[{extra}]'")


def require_extra(extra: str, *modules: str) -> None:
    """Raise `missing_extra` at once if a module a step needs is not installed: called when the step
    is built, so `validate` says so and `run` stops before paying for any request."""
    from importlib.util import find_spec

    for module in modules:
        if find_spec(module) is None:
            raise missing_extra(extra, ModuleNotFoundError(f"No module named {module!r}", name=module))
