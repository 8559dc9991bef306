"""Compile a validated Recipe into a Pipeline: entity lists, samplers and stage objects.

Everything that can be checked without a backend is checked here, before any request is sent:
entity files, sampler fit, stage configs, template syntax, and that every template variable is
a slot or the output of an earlier stage.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import RecipeError
from .recipe.load import FieldProblem, problem_to_error, validation_error
from .recipe.model import Recipe
from .record import Record
from .registry import Registry
from .sampling import EntityList, Sampler, load_entities
from .sampling.columns import check_columns
from .sampling.rows import PROVENANCE, EachSampler, make_slot_sampler
from .stages.base import BuiltStage, StageContext
from .templates import PromptTemplate, TemplateSyntaxProblem

__all__ = ["Pipeline", "build_pipeline", "RESERVED"]

RESERVED = frozenset({"id", "index"})


@dataclass
class Pipeline:
    """A recipe made runnable: sample a record's slots, then pass it through the stages."""

    recipe: Recipe
    entities: dict[str, EntityList]
    samplers: dict[str, Sampler]
    stages: list[BuiltStage]  # the recipe's stages, then its per-record `curate` steps
    corpus: Any = None
    dataset_steps: list[Any] = field(default_factory=list)  # `curate` steps over all kept records (dedup)
    sections: list[tuple[str, int]] = field(default_factory=list)  # per stage: ("stages"|"curate", position)

    def new_record(self, index: int) -> Record:
        rows = self.rows
        if rows is None:
            slots = {name: sampler.sample(index) for name, sampler in self.samplers.items()}
            return Record(index=index, id=f"{self.recipe.name}-{index:06d}", slots=slots)
        item, basis, provenance = rows.take(index)  # seeds follow the row, not its position (rows.py)
        slots = {name: item if sampler is rows else sampler.sample(index if sampler.positional else basis)  # type: ignore[arg-type]
                 for name, sampler in self.samplers.items()}
        return Record(index=index, id=f"{self.recipe.name}-{index:06d}", slots=slots, fields=provenance, basis=basis)

    @property
    def rows(self) -> EachSampler | None:
        """The slot that walks a list row by row (`sampler: each`), if any."""
        return next((s for s in self.samplers.values() if isinstance(s, EachSampler)), None)

    def records_in_data(self) -> int | None:
        """How many records the rows make (rows × per_row), when a slot uses `each`."""
        return self.rows.records if self.rows is not None else None

    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the records changes (not n, not concurrency)."""
        recipe = self.recipe.model_dump(mode="json", exclude={"backend", "description", "prices", "card"})
        for spec in recipe.get("backends", {}).values():  # how a backend is driven does not shape records
            for key in RUNTIME_BACKEND_FIELDS:
                spec.pop(key, None)
        entities = {name: e.fingerprint() for name, e in self.entities.items()}
        corpus = getattr(self.corpus, "fingerprint", None)
        blob = json.dumps([recipe, entities] + ([corpus] if corpus else []), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def columns(self) -> list[str]:
        return ["id", *self.samplers, *(o for s in self.stages for o in s.outputs)]


RUNTIME_BACKEND_FIELDS = ("timeout", "api_key_env", "rpm", "tpm", "adaptive", "latency_tolerance", "base_url")


def build_pipeline(recipe: Recipe, registry: Registry, model: str = "",
                   generated: dict[str, list[str]] | None = None, models: dict[str, str] | None = None,
                   loaded: dict[str, EntityList] | None = None, corpus: Any = None,
                   tables: Any = None, data: dict[str, Any] | None = None) -> Pipeline:
    """Resolve and check the whole recipe; raises RecipeError naming file, line and field.

    `model` is the backend's model id, which stages put in every request (and so in its key).
    Data files are converted into `tables` (a sampling.tables.TableCache; default: a temporary
    one); `data` gives in-memory data for entity lists by name (the Python API's `data=`).
    """
    try:
        entities = load_entities(recipe, generated, loaded, corpus, tables, data)
        samplers = build_samplers(recipe, entities)
        check_backend_names(recipe)
        context = StageContext(recipe.seed, recipe.params, model, models or {}, corpus, recipe.base_dir)
        built = build_stages(recipe, registry, context, "stages") + build_stages(recipe, registry, context, "curate")
        bind_steps(built)
        check_names(recipe, samplers, built)
        check_columns(recipe, entities, [(where, templates_of(step), step) for where, step in built], template_field)
    except FieldProblem as problem:
        raise problem_to_error(problem, recipe) from None
    per_record = [(where, step) for where, step in built if not is_dataset_step(step)]
    dataset_steps = [step for _, step in built if is_dataset_step(step)]
    return Pipeline(recipe, entities, samplers, [step for _, step in per_record], corpus, dataset_steps,
                    [where for where, _ in per_record])


def bind_steps(built: list[tuple[tuple[str, int], BuiltStage]]) -> None:
    """Give steps that act on another step (a check that regenerates a story) the steps before them."""
    for position, ((section, i), step) in enumerate(built):
        try:
            step.bind({s.name: s for _, s in built[:position]})
        except FieldProblem as problem:
            raise FieldProblem((section, i, *problem.loc), problem.message) from None


def is_dataset_step(step: Any) -> bool:
    """A step that looks at all kept records at once (dedup) rather than one record."""
    return step.scope == "dataset"


def build_samplers(recipe: Recipe, entities: dict[str, EntityList]) -> dict[str, Sampler]:
    samplers: dict[str, Sampler] = {}
    for name, spec in recipe.slot_specs().items():
        if spec.source not in entities:
            raise FieldProblem(("slots", name), f"uses entity list {spec.source!r}, which is not defined{suggest(spec.source, entities)}")
        try:
            samplers[name] = make_slot_sampler(spec, entities[spec.source], recipe.seed, name)
        except ValueError as exc:
            raise FieldProblem(("slots", name), str(exc)) from None
    walkers = [name for name, sampler in samplers.items() if isinstance(sampler, EachSampler)]
    if len(walkers) > 1:
        raise FieldProblem(("slots", walkers[1], "sampler"), f"only one slot can walk rows with `each` "
                           f"({walkers[0]!r} already does): put the columns you need in one file")
    return samplers


def build_stages(recipe: Recipe, registry: Registry, context: StageContext,
                 section: str = "stages") -> list[tuple[tuple[str, int], BuiltStage]]:
    """The steps of one recipe section, each with where it is ((section, position))."""
    stages: list[tuple[tuple[str, int], BuiltStage]] = []
    for i, spec in enumerate(getattr(recipe, section)):
        raw = spec.model_dump(exclude_unset=False)
        try:
            cls = registry.stage_class(spec.kind)
        except KeyError as exc:
            raise FieldProblem((section, i, "kind"), exc.args[0]) from None
        if cls.uses_corpus and context.corpus is None:
            raise FieldProblem((section, i, "kind"), f"a {spec.kind!r} stage retrieves from a corpus, but the recipe "
                               "has no `corpus:` (add `corpus: PATH`, or pass --corpus DIR)")
        try:
            config = cls.Config.model_validate(raw)
        except ValidationError as exc:
            raise stage_error(exc, recipe, cls.Config, (section, i)) from None
        try:
            stage = cls(config, context)
            check_templates(stage, raw)
            stages.append(((section, i), stage))
        except FieldProblem as problem:
            raise FieldProblem((section, i, *problem.loc), problem.message) from None
        except TemplateSyntaxProblem as exc:
            where = template_field(raw, getattr(exc, "source", ""))
            line = f" (template line {exc.line})" if exc.line else ""
            raise FieldProblem((section, i, where), f"template syntax error{line}: {exc}") from None
    return stages


def check_templates(stage: BuiltStage, raw: dict[str, Any]) -> None:
    """A template the sandbox refuses for every record (it reads `__class__`) is a recipe error."""
    for template in templates_of(stage):
        if template.refused:
            message, line = template.refused
            raise FieldProblem((template_field(raw, template.source),), f"template not allowed (template line {line}): {message}")


def templates_of(obj: Any) -> list[PromptTemplate]:
    """The PromptTemplates a stage keeps, as attributes or in lists and dicts of them."""
    found: list[PromptTemplate] = []
    for value in getattr(obj, "__dict__", {}).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        found += [item for item in items if isinstance(item, PromptTemplate)]
    return found


def template_field(raw: dict[str, Any], source: str) -> str:
    """The config field a template came from: the one equal to it, or one put into it (a judge's
    `instruction` in its rubric, an item of `include`)."""
    def part_of(value: Any) -> bool:
        if isinstance(value, str):
            return ("{{" in value or "{%" in value) and value in source
        return isinstance(value, list) and any(part_of(item) for item in value)

    return field_holding(raw, lambda value: value == source) or field_holding(raw, part_of) or "prompt"


def stage_error(exc: ValidationError, recipe: Recipe, model: type, where: tuple[str, int]) -> RecipeError:
    node = recipe.__dict__.get("_source_node")
    path = recipe.__dict__.get("_source_path", "<recipe>")
    return validation_error(exc, node, path, model=model, prefix=where)


def check_names(recipe: Recipe, samplers: dict[str, Sampler], built: list[tuple[tuple[str, int], BuiltStage]]) -> None:
    """Slots and outputs share one namespace; templates may only read what exists before them.

    A step may overwrite an earlier field only by naming it in `rewrites` (a constraint check
    that regenerates the story it checks).
    """
    for slot in samplers:
        if slot in RESERVED:
            raise FieldProblem(("slots", slot), f"{slot!r} is reserved for the record itself")
    available = set(samplers) | RESERVED
    if any(isinstance(sampler, EachSampler) for sampler in samplers.values()):
        available |= set(PROVENANCE)
    seen_stage_names: set[str] = set()
    for position, ((section, i), stage) in enumerate(built):
        if stage.name in seen_stage_names:
            raise FieldProblem((section, i, "name"), f"two steps are named {stage.name!r}")
        seen_stage_names.add(stage.name)
        raw = getattr(recipe, section)[i].model_dump()
        for var in sorted(stage.inputs - available):
            where = field_holding(raw, lambda value, var=var: isinstance(value, str) and var in value) or "prompt"
            later = [o for _, s in built[position + 1 :] for o in s.outputs]
            why = "a later stage" if var in later else "no slot or earlier stage"
            raise FieldProblem(
                (section, i, where),
                f"template uses {{{{ {var} }}}}, which {why} defines{suggest(var, available)}",
            )
        for var in sorted(stage.rewrites - available):
            raise FieldProblem((section, i, "field"), f"{var!r} is not a slot or earlier output{suggest(var, available)}")
        for output in stage.outputs:
            if output in available:
                raise FieldProblem((section, i, "name"), f"output {output!r} would overwrite a slot or earlier output")
            available.add(output)
        available.add(f"{stage.name}_reasoning")  # set by the runner when a reasoning model's answer carried a trace


def check_backend_names(recipe: Recipe) -> None:
    """Every `backend: NAME` anywhere in the params must be one of the recipe's `backends`."""
    def walk(value: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            name = value.get("backend")
            if isinstance(name, str) and name not in recipe.backends and loc[-1:] != ("backend",):
                known = ", ".join(sorted(recipe.backends)) or "none are defined"
                raise FieldProblem((*loc, "backend"), f"no backend named {name!r} in the recipe's `backends` ({known})")
            for key, item in value.items():
                walk(item, (*loc, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*loc, i))

    walk(recipe.params.model_dump(), ("params",))
    for section in ("stages", "curate"):
        for i, spec in enumerate(getattr(recipe, section)):
            walk(spec.model_dump(), (section, i))


def field_holding(raw: dict[str, Any], test: Any) -> str | None:
    return next((key for key, value in raw.items() if test(value)), None)


def suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (available: {', '.join(sorted(known))})"
