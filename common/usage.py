"""Usage on the wire: ``GET /v1/usage`` counters, the plan's limits, and this month."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["UsageGroup", "UsageReport"]

UsageGroup = Literal["day", "channel", "metric", "day_channel"]


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    """Counters grouped as asked (``rows``: the group's keys, then one number per metric),
    the plan's monthly limits (0: no limit), this month's use and when it resets."""

    rows: list[dict[str, str | float]]
    plan: dict[str, float]
    month: dict[str, float]
    resets_on: str
