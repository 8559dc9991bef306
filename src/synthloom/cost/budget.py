"""Live spend and the budget cap.

Before a fresh request is sent, the most it can cost is held back: its prompt at 3 characters
per token plus max_tokens of output. If what is spent, plus what in-flight requests hold, plus
this hold would pass the limit, the request is not sent (`BudgetReached`), the run stops taking
new records, and the requests already in flight finish and are stored. Spend counts every
response the output directory has paid for, in earlier runs too, so re-running with the same
budget sends nothing more and a higher budget carries on from where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..backends.base import Request, Response
from ..backends.tokens import reserve_prompt_tokens
from ..errors import ConfigError
from .prices import PriceTable

__all__ = ["Budget", "BudgetLike", "BudgetReached", "DEFAULT_COMPLETION_HOLD"]

DEFAULT_COMPLETION_HOLD = 1024  # output tokens held for a request without max_tokens, until a longer one is seen


class BudgetReached(Exception):
    """The next request could pass the budget; nothing was sent."""


class BudgetLike(Protocol):
    """What a Caller needs of a budget: this process's `Budget`, or a Ray worker's client of the
    one the driver's writer holds (executors/ray_store.py), so every worker spends from one total."""

    reached: bool

    async def reserve(self, request: Request, model: str, batch: bool = False) -> float: ...

    def release(self, amount: float) -> None: ...

    def settle(self, amount: float, response: Response, model: str) -> None: ...


@dataclass
class Budget:
    """Dollars spent (before this run and in it), held for in-flight requests, and the limit."""

    prices: PriceTable
    limit: float | None = None
    spent_before: float = 0.0
    spent: float = 0.0
    held: float = 0.0
    reached: bool = False
    longest_completion: int = 0

    def __post_init__(self) -> None:
        if self.limit is not None:
            if self.limit < 0:
                raise ConfigError(f"--budget must be 0 or more dollars, got {self.limit}")
            if not self.prices:
                raise ConfigError("--budget needs prices: --price-in and --price-out ($ per 1M tokens), "
                                  "or `prices:` in the recipe")

    @property
    def total(self) -> float:
        return self.spent_before + self.spent

    def hold(self, request: Request, model: str, batch: bool = False) -> float:
        """Hold back the most this request can cost (at the batch rate when a batch API serves
        it), or raise BudgetReached without sending it."""
        price = self.prices.price(request.model or model)
        if price is None:
            if self.limit is None:
                return 0.0
            raise ConfigError(f"no price for model {request.model or model!r}: add it to the recipe's `prices:` "
                              "or give --price-in/--price-out")
        completion = request.max_tokens or max(DEFAULT_COMPLETION_HOLD, self.longest_completion)
        amount = self.prices.cost(request.model or model, reserve_prompt_tokens(request), completion, batch=batch) or 0.0
        if self.limit is not None and (self.reached or self.total + self.held + amount > self.limit):
            self.reached = True
            raise BudgetReached(f"the budget of ${self.limit:.2f} is reached (${self.total:.4f} spent)")
        self.held += amount
        return amount

    async def reserve(self, request: Request, model: str, batch: bool = False) -> float:
        """`hold`, as a Caller awaits it (BudgetLike)."""
        return self.hold(request, model, batch)

    def release(self, amount: float) -> None:
        self.held = max(0.0, self.held - amount)

    def settle(self, amount: float, response: Response, model: str) -> None:
        """Replace a hold by what the response actually cost."""
        self.release(amount)
        usage = response.usage
        self.longest_completion = max(self.longest_completion, usage.completion_tokens)
        self.add(response, model)

    def add(self, response: Response, model: str) -> None:
        """Count what a response cost (at the batch rate if a batch API answered it)."""
        cost = self.prices.usage_cost(response.model or model, response.usage, response.batch)
        if cost is None:
            cost = self.prices.usage_cost(model, response.usage, response.batch) or 0.0
        self.spent += cost
