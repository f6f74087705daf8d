"""Plans (monthly limits) and the AI price table, as the operator configures them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

__all__ = [
    "DEFAULT_PRICES",
    "Limit",
    "Plan",
    "cost_usd",
    "load_plans",
    "load_prices",
    "price_of",
]

#: USD per million tokens (input, output); the operator's table is laid over this one.
DEFAULT_PRICES: Final[dict[str, tuple[float, float]]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}

Limit = Literal["outbound_messages", "ai_tokens", "ai_cost_usd"]
WARN_AT: Final = (0.8, 1.0)


class Plan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Monthly limits; 0 means no limit."""

    outbound_messages: int = 1000
    ai_tokens: int = 2_000_000
    ai_cost_usd: float = 5.0
    #: Models the AI gateway forwards for this plan (empty: every model with a price).
    models: tuple[str, ...] = ()

    def limit(self, name: Limit) -> float:
        return float(getattr(self, name))


def load_plans(spec: str) -> dict[str, Plan]:
    plans = {"free": Plan(), "unlimited": Plan(outbound_messages=0, ai_tokens=0, ai_cost_usd=0)}
    if spec.strip():
        try:
            plans.update(msgspec.json.decode(spec, type=dict[str, Plan]))
        except msgspec.DecodeError as exc:
            raise ValueError(f"CLIENTORA_RELAY_PLANS is not valid: {exc}") from None
    return plans


def load_prices(spec: str) -> dict[str, tuple[float, float]]:
    prices = dict(DEFAULT_PRICES)
    if spec.strip():
        try:
            prices.update(msgspec.json.decode(spec, type=dict[str, tuple[float, float]]))
        except msgspec.DecodeError as exc:
            raise ValueError(f"CLIENTORA_RELAY_AI_PRICES is not valid: {exc}") from None
    return prices


def price_of(prices: Mapping[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    """USD per million (input, output) tokens of ``model``; None when it has no price.
    Dated snapshots ("gpt-4o-mini-2024-07-18") are priced as their family."""
    price = prices.get(model)
    if price is None:
        price = next((p for name, p in prices.items() if model.startswith(name + "-")), None)
    return price


def cost_usd(
    prices: Mapping[str, tuple[float, float]], model: str, prompt: int, completion: int
) -> float:
    """Cost of one call (0 for a model without a price: the gateway refuses those first)."""
    price = price_of(prices, model)
    if price is None:
        return 0.0
    return (prompt * price[0] + completion * price[1]) / 1_000_000
