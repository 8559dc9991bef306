"""Find a recipe's corpus: `--corpus` or the recipe's `corpus:`, ingested first if it is documents."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..recipe.load import FieldProblem, problem_to_error
from ..recipe.model import Recipe
from .chunking import ChunkSettings
from .index import CorpusIndex
from .ingestion import IngestReport, ingest
from .store import MANIFEST, load_index

__all__ = ["open_corpus", "corpus_path"]


def corpus_path(recipe: Recipe, override: str | Path | None = None) -> Path | None:
    """The corpus location: the command line's, else the recipe's (relative to the recipe file)."""
    if override is not None:
        return Path(override)
    if recipe.corpus is None:
        return None
    return (recipe.base_dir / recipe.corpus.path).resolve()


def open_corpus(recipe: Recipe, workdir: Path, override: str | Path | None = None) -> tuple[CorpusIndex | None, IngestReport | None]:
    """The searchable corpus, or None if there is none; documents are ingested into WORKDIR/corpus."""
    path = corpus_path(recipe, override)
    if path is None:
        return None, None
    if not path.exists():
        message = f"no such file or directory: {path}"
        if override is not None:
            raise ConfigError(f"--corpus {override}: {message}")
        raise problem_to_error(FieldProblem(("corpus",), message), recipe)
    if path.is_dir() and (path / MANIFEST).exists():
        return load_index(path), None
    spec = recipe.corpus
    try:
        settings = ChunkSettings(spec.chunk_tokens, spec.overlap) if spec else ChunkSettings()
    except ValueError as exc:
        raise problem_to_error(FieldProblem(("corpus", "overlap"), str(exc)), recipe) from None
    target = workdir / "corpus"
    report = ingest([path], target, settings)
    return load_index(target), report
