"""What a run costs: prices, token counting, the pre-run estimate and the budget cap."""

from ..backends.tokens import approx_tokens, prompt_tokens
from .budget import Budget, BudgetReached
from .prices import PriceTable

__all__ = ["Budget", "BudgetReached", "PriceTable", "approx_tokens", "prompt_tokens"]
