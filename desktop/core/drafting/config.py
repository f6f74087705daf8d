"""Settings of the AI connection and the price table that turns token counts into money."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = ["DEFAULT_PRICES", "AIConfig", "ModelPrice", "cost_usd", "price_for"]


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """What a model costs, in US dollars per million tokens."""

    input: float
    output: float
    #: Price of prompt tokens served from OpenAI's prompt cache (None: same as ``input``).
    cached_input: float | None = None


#: OpenAI list prices (standard tier, USD per 1M tokens) as published in 2025. Dated
#: snapshots ("gpt-4o-mini-2024-07-18") are priced by their longest matching prefix.
DEFAULT_PRICES: Final[dict[str, ModelPrice]] = {
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cached_input=0.075),
    "gpt-4o": ModelPrice(input=2.50, output=10.00, cached_input=1.25),
    "gpt-4.1-nano": ModelPrice(input=0.10, output=0.40, cached_input=0.025),
    "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cached_input=0.10),
    "gpt-4.1": ModelPrice(input=2.00, output=8.00, cached_input=0.50),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.40, cached_input=0.005),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.00, cached_input=0.025),
    "gpt-5": ModelPrice(input=1.25, output=10.00, cached_input=0.125),
    "o4-mini": ModelPrice(input=1.10, output=4.40, cached_input=0.275),
    "gpt-3.5-turbo": ModelPrice(input=0.50, output=1.50),
}


def _default_prices() -> dict[str, ModelPrice]:
    return dict(DEFAULT_PRICES)


class AIConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach an OpenAI-compatible chat API and how patiently to use it."""

    #: Base URL ending in /v1 (None: OpenAI's own API). The relay's AI gateway or a local
    #: server works the same.
    base_url: str | None = None
    #: API key sent as a Bearer token (None: no key; a local server may not need one).
    api_key: str | None = None
    #: Chat model used for drafting.
    model: str = "gpt-4o-mini"
    #: Seconds one request may take before it counts as failed.
    timeout_s: float = 30
    #: Extra attempts after a timeout, 429 or 5xx (0: try once).
    max_retries: int = 2
    #: First back-off between attempts in seconds; doubles each time, with jitter.
    backoff_s: float = 0.5
    #: Longest wait between attempts; a Retry-After above it ends the attempts at once.
    max_backoff_s: float = 8.0
    #: Prices per model name (or name prefix), USD per 1M tokens.
    prices: dict[str, ModelPrice] = msgspec.field(default_factory=_default_prices)
    #: Replace customers' phones, e-mails, cards, IBANs, addresses and ID numbers before
    #: calling the API (see ``pii.py``).
    mask_pii: bool = True
    #: Structured output: strict JSON schema, or plain JSON mode for servers without it.
    json_mode: Literal["json_schema", "json_object"] = "json_schema"


def price_for(model: str, prices: dict[str, ModelPrice]) -> ModelPrice | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def cost_usd(
    price: ModelPrice | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> float:
    """Dollars for one call; 0 when the model's price is unknown."""
    if price is None:
        return 0.0
    cached = min(max(cached_tokens, 0), prompt_tokens)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    total = (
        (prompt_tokens - cached) * price.input
        + cached * cached_rate
        + completion_tokens * price.output
    )
    return total / 1_000_000
