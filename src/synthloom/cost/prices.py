"""Prices in dollars per 1M tokens, looked up by the model name a response carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..recipe.model import Price, Recipe

if TYPE_CHECKING:
    from ..backends.base import Usage

__all__ = ["PriceTable", "dollars"]

ANY = "*"


def dollars(amount: float) -> str:
    """$1,234.56 for whole dollars and up, $0.0123 below: small runs still show their cost."""
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount:.4f}"


@dataclass(frozen=True)
class PriceTable:
    """Model name → Price. A name matches exactly, else the longest key it starts with
    (`gpt-4o-mini` prices `gpt-4o-mini-2024-07-18`), else `*`."""

    prices: Mapping[str, Price] = field(default_factory=dict)

    @classmethod
    def for_run(cls, recipe: Recipe | None, price_in: float | None = None, price_out: float | None = None) -> PriceTable:
        """The recipe's `prices:`, or, when --price-in/--price-out are given, those for every model."""
        if (price_in is None) != (price_out is None):
            raise ConfigError("give both --price-in and --price-out ($ per 1M tokens), or neither")
        if price_in is not None and price_out is not None:
            if price_in < 0 or price_out < 0:
                raise ConfigError("--price-in and --price-out must be 0 or more ($ per 1M tokens)")
            return cls({ANY: Price(input=price_in, output=price_out)})
        return cls(dict(recipe.prices) if recipe is not None else {})

    def __bool__(self) -> bool:
        return bool(self.prices)

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        prefixes = [key for key in self.prices if key != ANY and model.startswith(key)]
        if prefixes:
            return self.prices[max(prefixes, key=len)]
        return self.prices.get(ANY)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
             cache_write_tokens: int = 0, batch: bool = False) -> float | None:
        """Dollars for these tokens on `model` (cached and cache-write tokens are part of the prompt
        tokens; `batch`: at the batch rate); None when the table has no price for it."""
        price = self.price(model)
        if price is None:
            return None
        fresh = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        rates = batch_rates(price) if batch else (price.input, price.output, cached_rate(price), write_rate(price))
        return (fresh * rates[0] + completion_tokens * rates[1] + cached_tokens * rates[2]
                + cache_write_tokens * rates[3]) / 1_000_000

    def usage_cost(self, model: str, usage: Usage, batch: bool = False) -> float | None:
        """Dollars for a response's usage on `model`."""
        return self.cost(model, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                         usage.cache_write_tokens, batch)

    def detailed_total(self, usage: Mapping[tuple[str, bool], tuple[int, int, int, int]]) -> float | None:
        """Dollars for {(model, batch): (prompt, completion, cached, cache_write)}; None if any
        model with tokens has no price."""
        total = 0.0
        for (model, batch), tokens in usage.items():
            spent = self.cost(model, *tokens, batch=batch)
            if spent is None:
                if tokens[0] or tokens[1]:
                    return None
                continue
            total += spent
        return total

    def total(self, usage_by_model: Mapping[str, tuple[int, int]]) -> float | None:
        """Dollars for {model: (prompt, completion)}; None if any model with tokens has no price."""
        total = 0.0
        for model, (prompt, completion) in usage_by_model.items():
            spent = self.cost(model, prompt, completion)
            if spent is None:
                if prompt or completion:
                    return None
                continue
            total += spent
        return total

    def describe(self) -> str:
        return ", ".join(f"{'any model' if k == ANY else k}: ${p.input:g} in / ${p.output:g} out per 1M tokens"
                         for k, p in self.prices.items())


def cached_rate(price: Price) -> float:
    return price.input if price.cached_input is None else price.cached_input


def write_rate(price: Price) -> float:
    return price.input if price.cache_write is None else price.cache_write


def batch_rates(price: Price) -> tuple[float, float, float, float]:
    """(input, output, cached input, cache write) through a batch API: the table's batch prices,
    else half the online ones, as OpenAI and Anthropic charge; cache rates scale like input."""
    batch_in = price.input / 2 if price.batch_input is None else price.batch_input
    batch_out = price.output / 2 if price.batch_output is None else price.batch_output
    factor = batch_in / price.input if price.input else 0.5
    return batch_in, batch_out, cached_rate(price) * factor, write_rate(price) * factor
