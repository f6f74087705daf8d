"""AI usage counted on this computer, for owners who use their own AI key.

The relay meters what goes through its AI gateway; calls made straight to OpenAI (or a
local server) with the owner's key never reach it. Each draft keeps the tokens the API
reported in its usage field, so the days add up from the drafts, priced from the
price table; a model with no price is named, never counted as free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import msgspec

from desktop.core.drafting.config import ModelPrice, cost_usd, price_for
from desktop.core.settings import AppSettings

__all__ = ["DraftUsageRow", "LocalUsage", "local_usage", "own_key"]

#: (created at ms, model, prompt tokens, completion tokens, cost in USD as recorded)
DraftUsageRow = tuple[int, str | None, int, int, float]


class LocalUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens and dollars per day (ISO date) and for the month so far."""

    days: dict[str, tuple[int, float]]
    month_tokens: int
    month_cost_usd: float
    #: Models that were used but have no price in the table (their cost is unknown).
    unpriced: tuple[str, ...]


def own_key(settings: AppSettings) -> bool:
    """True when the AI is called with the owner's own key rather than through the relay
    (whose gateway, at ``…/ai/v1``, meters every call itself)."""
    if not settings.ai_configured:
        return False
    return not (settings.ai.base_url or "").rstrip("/").endswith("/ai/v1")


def local_usage(
    rows: Iterable[DraftUsageRow], today: date, prices: Mapping[str, ModelPrice]
) -> LocalUsage:
    """Add the drafts' usage up per local day and for ``today``'s month."""
    days: dict[str, tuple[int, float]] = {}
    unpriced: set[str] = set()
    month_tokens, month_cost = 0, 0.0
    for created_ms, model, prompt, completion, recorded in rows:
        tokens = prompt + completion
        if tokens <= 0:
            continue
        price = price_for(model, dict(prices)) if model else None
        if price is None:
            unpriced.add(model or "unknown model")
        cost = recorded if recorded > 0 else cost_usd(price, prompt, completion)
        day = datetime.fromtimestamp(created_ms / 1000).date()
        key = day.isoformat()
        old_tokens, old_cost = days.get(key, (0, 0.0))
        days[key] = (old_tokens + tokens, old_cost + cost)
        if (day.year, day.month) == (today.year, today.month):
            month_tokens += tokens
            month_cost += cost
    return LocalUsage(
        days=days,
        month_tokens=month_tokens,
        month_cost_usd=round(month_cost, 6),
        unpriced=tuple(sorted(unpriced)),
    )
