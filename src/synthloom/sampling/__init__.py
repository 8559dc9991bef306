"""Entity sources and seeded samplers."""

from .samplers import CoverageSampler, Sampler, UniformSampler, WeightedSampler, derive_seed, make_sampler
from .sources import EntityList, load_entities, read_items

__all__ = [
    "EntityList",
    "load_entities",
    "read_items",
    "Sampler",
    "UniformSampler",
    "WeightedSampler",
    "CoverageSampler",
    "make_sampler",
    "derive_seed",
]
