"""Recipes: the YAML format, its validation, and the resolution into entity lists."""

from .load import FieldProblem, load_recipe, parse_recipe, problem_to_error
from .model import BackendSpec, EntityFile, GenerationParams, Recipe, SlotSpec, StageSpec, WeightedItems

__all__ = [
    "Recipe",
    "BackendSpec",
    "GenerationParams",
    "EntityFile",
    "WeightedItems",
    "SlotSpec",
    "StageSpec",
    "FieldProblem",
    "load_recipe",
    "parse_recipe",
    "problem_to_error",
]
