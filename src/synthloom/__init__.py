"""synthloom: diverse, verified synthetic datasets from a YAML recipe.

The names below are imported on first use (PEP 562), so `import synthloom` and `synthloom --help`
do not load the run machinery, pyarrow or numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lazy import lazy_attributes

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .api import RunResult, run, run_async
    from .backends import Backend, BackendError, FakeBackend, Request, Response, Usage
    from .errors import ConfigError, RecipeError, SynthloomError
    from .pipeline import Pipeline, build_pipeline
    from .recipe import BackendSpec, GenerationParams, Recipe, load_recipe, parse_recipe
    from .record import Record, Rejected
    from .registry import Registry, default_registry
    from .runner import RunOptions, RunStats

__all__ = [
    "__version__",
    "run",
    "run_async",
    "RunResult",
    "RunOptions",
    "RunStats",
    "Recipe",
    "BackendSpec",
    "GenerationParams",
    "load_recipe",
    "parse_recipe",
    "Pipeline",
    "build_pipeline",
    "Record",
    "Rejected",
    "Registry",
    "default_registry",
    "Backend",
    "BackendError",
    "FakeBackend",
    "Request",
    "Response",
    "Usage",
    "SynthloomError",
    "RecipeError",
    "ConfigError",
]

_WHERE = {
    "run": ".api", "run_async": ".api", "RunResult": ".api",
    "RunOptions": ".runner", "RunStats": ".runner",
    "Recipe": ".recipe", "BackendSpec": ".recipe", "GenerationParams": ".recipe", "load_recipe": ".recipe",
    "parse_recipe": ".recipe",
    "Pipeline": ".pipeline", "build_pipeline": ".pipeline",
    "Record": ".record", "Rejected": ".record",
    "Registry": ".registry", "default_registry": ".registry",
    "Backend": ".backends", "BackendError": ".backends", "FakeBackend": ".backends", "Request": ".backends",
    "Response": ".backends", "Usage": ".backends",
    "SynthloomError": ".errors", "RecipeError": ".errors", "ConfigError": ".errors",
}
_lazy_getattr, _lazy_dir = lazy_attributes(__name__, _WHERE)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from .version import package_version

        return package_version()
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted({*_lazy_dir(), "__version__"})
