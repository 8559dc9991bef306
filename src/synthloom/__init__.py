"""synthloom: diverse, verified synthetic datasets from a YAML recipe."""

__version__ = "0.1.0"

from .api import RunResult, run, run_async  # noqa: E402
from .backends import (  # noqa: E402
    Backend,
    BackendError,
    FakeBackend,
    Request,
    Response,
    Usage,
)
from .errors import ConfigError, RecipeError, SynthloomError  # noqa: E402
from .pipeline import Pipeline, build_pipeline  # noqa: E402
from .recipe import BackendSpec, GenerationParams, Recipe, load_recipe, parse_recipe  # noqa: E402
from .record import Record, Rejected  # noqa: E402
from .registry import Registry, default_registry  # noqa: E402
from .runner import RunOptions, RunStats  # noqa: E402

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
