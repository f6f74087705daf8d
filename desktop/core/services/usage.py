"""Usage and results: the relay's counters against the plan, and the assistant's record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from desktop.core.relay_client import RelayClient
from desktop.core.store import AssistantStats, Channel, Store, UsageNotice

from .errors import plainly

__all__ = ["DayUsage", "UsageReport", "UsageService"]


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str
    inbound: int = 0
    outbound_auto: int = 0
    outbound_manual: int = 0
    ai_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageReport:
    days: list[DayUsage]
    limits: dict[str, float]
    month: dict[str, float]
    resets_on: str


class UsageService:
    """What the usage screen and the channel cards' results need."""

    def __init__(self, store: Store, client: RelayClient, relay_head: Callable[[], int]) -> None:
        self.store = store
        self.client = client
        self._relay_head = relay_head

    async def report(self, first: date, last: date) -> UsageReport:
        """Per-day counters from the relay, the plan's limits and this month's use."""
        raw = await plainly(self.client.usage(first.isoformat(), last.isoformat()))
        days = [
            DayUsage(
                day=str(row.get("day", "")),
                inbound=int(row.get("inbound_messages", 0)),
                outbound_auto=int(row.get("outbound_auto", 0)),
                outbound_manual=int(row.get("outbound_manual", 0)),
                ai_tokens=int(row.get("prompt_tokens", 0)) + int(row.get("completion_tokens", 0)),
                cost_usd=float(row.get("cost_usd", 0.0)),
            )
            for row in raw.rows
        ]
        return UsageReport(
            days=days, limits=dict(raw.plan), month=raw.month, resets_on=raw.resets_on
        )

    async def stats(self) -> AssistantStats:
        """The assistant's record: drafts, sends, shadow agreement, what is behind."""
        return await self.store.assistant_stats(relay_head=self._relay_head())

    async def notices(self) -> list[UsageNotice]:
        """The relay's latest warnings about limits being near or reached."""
        return await self.store.usage_notices()

    async def channels(self) -> list[Channel]:
        """The channels, to name the rows of the results."""
        return await self.store.channels()
