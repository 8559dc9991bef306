"""Dataset quality figures: diversity, entity coverage, label balance, lengths, token usage and cost."""

from __future__ import annotations

from .coverage import entity_coverage, label_balance, length_distribution
from .diversity import diversity_metrics
from .usage import token_usage

__all__ = ["diversity_metrics", "entity_coverage", "label_balance", "length_distribution", "token_usage"]
