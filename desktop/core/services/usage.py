"""Usage and results: the relay's counters against the plan, and the assistant's record."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from desktop.core.local_usage import local_usage, own_key
from desktop.core.relay_client import RelayClient
from desktop.core.store import AssistantStats, Channel, Store, UsageNotice

from .errors import plainly
from .preferences import Preferences

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

    def __init__(
        self,
        preferences: Preferences,
        store: Store,
        client: RelayClient,
        relay_head: Callable[[], int],
    ) -> None:
        self.preferences = preferences
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

    async def with_own_key(
        self, report: UsageReport, first: date, last: date
    ) -> tuple[UsageReport, bool, tuple[str, ...]]:
        """The report with AI use counted here when the owner's own key is used (the relay
        never sees those calls), whether it is, and the models that have no price."""
        settings = self.preferences.settings
        if not own_key(settings):
            return report, False, ()
        month_start = last.replace(day=1)
        since = datetime.combine(min(first, month_start), datetime.min.time())
        rows = await self.store.draft_usage(int(since.timestamp() * 1000))
        local = local_usage(rows, last, settings.ai.prices)
        report = dataclasses.replace(
            report,
            days=[
                dataclasses.replace(
                    d,
                    ai_tokens=local.days.get(d.day, (0, 0.0))[0],
                    cost_usd=local.days.get(d.day, (0, 0.0))[1],
                )
                for d in report.days
            ],
            month={
                **report.month,
                "ai_tokens": float(local.month_tokens),
                "ai_cost_usd": local.month_cost_usd,
            },
            limits={**report.limits, "ai_tokens": 0.0, "ai_cost_usd": 0.0},
        )
        return report, True, local.unpriced

    async def stats(self) -> AssistantStats:
        """The assistant's record: drafts, sends, shadow agreement, what is behind."""
        return await self.store.assistant_stats(relay_head=self._relay_head())

    async def notices(self) -> list[UsageNotice]:
        """The relay's latest warnings about limits being near or reached."""
        return await self.store.usage_notices()

    async def channels(self) -> list[Channel]:
        """The channels, to name the rows of the results."""
        return await self.store.channels()
