"""Dataset quality figures: diversity, entity coverage, label balance, lengths, token usage and cost.

Names are imported on first use: token usage (run.json, every run) needs no numpy; the diversity
and coverage figures (the report, the `curate` extra) do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .coverage import entity_coverage, label_balance, length_distribution
    from .diversity import diversity_metrics
    from .usage import token_usage

__all__ = ["diversity_metrics", "entity_coverage", "label_balance", "length_distribution", "token_usage"]

__getattr__, __dir__ = lazy_attributes(__name__, {
    "entity_coverage": ".coverage", "label_balance": ".coverage", "length_distribution": ".coverage",
    "diversity_metrics": ".diversity", "token_usage": ".usage",
})
