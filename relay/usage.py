"""Usage metering, plans and limits: what each business used, and holding it to its plan."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery

from common.events import UsageWarning
from common.usage import UsageGroup, UsageReport
from relay.auth import Principal, provide_principal
from relay.errors import RelayError
from relay.ingest import system_event
from relay.plans import Limit, Plan
from relay.services import Services, now_ms
from relay.store.base import QuotaWant
from relay.store.clock import utc_day
from relay.store.quotas import IN_FLIGHT

__all__ = ["METRICS", "UsageReport", "release", "reserve", "usage_router", "warn_if_crossed"]

log = logging.getLogger("clientora.relay.usage")

#: Counters kept per business, channel and UTC day.
METRICS: Final = (
    "inbound_messages",
    "outbound_auto",
    "outbound_manual",
    "ai_requests",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)
WARN_AT: Final = (0.8, 1.0)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    outbound_messages: float
    ai_tokens: float
    ai_cost_usd: float
    resets_on: str

    def used(self, name: Limit) -> float:
        return float(getattr(self, name))


def _month_bounds(today: dt.date) -> tuple[str, str, str]:
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    last = following - dt.timedelta(days=1)
    return first.isoformat(), last.isoformat(), following.isoformat()


async def month_usage(services: Services, business_id: str) -> MonthUsage:
    today = dt.date.fromisoformat(utc_day(now_ms()))
    first, last, resets = _month_bounds(today)
    totals: dict[str, float] = {}
    for row in await services.store.usage(business_id, first, last):
        totals[row.metric] = totals.get(row.metric, 0.0) + row.value
    return MonthUsage(
        outbound_messages=totals.get("outbound_auto", 0) + totals.get("outbound_manual", 0),
        ai_tokens=totals.get("prompt_tokens", 0) + totals.get("completion_tokens", 0),
        ai_cost_usd=totals.get("cost_usd", 0),
        resets_on=resets,
    )


def plan_for(services: Services) -> Plan:
    return services.plans.get(services.settings.default_plan, Plan())


#: The usage metrics each monthly limit adds up.
LIMIT_METRICS: Final[Mapping[Limit, tuple[str, ...]]] = {
    "outbound_messages": ("outbound_auto", "outbound_manual"),
    "ai_tokens": ("prompt_tokens", "completion_tokens"),
    "ai_cost_usd": ("cost_usd",),
}
#: Metered calls (sends, AI calls) one business may have running at once.
MAX_IN_FLIGHT: Final = 16


async def reserve(
    services: Services, business_id: str, amounts: Mapping[Limit, float], ttl_ms: int
) -> str:
    """Hold ``amounts`` against this month's limits before a metered call, atomically, so
    concurrent calls cannot overspend; refused with ``quota_exceeded`` (limit and reset
    date named) or ``rate_limited`` (too many calls in flight). Returns the hold's id:
    ``release`` it once the call's real use is counted (a crash lets it lapse at ``ttl_ms``)."""
    plan = plan_for(services)
    now = now_ms()
    first, last, resets = _month_bounds(dt.date.fromisoformat(utc_day(now)))
    hold_id = uuid.uuid4().hex
    wants = [
        QuotaWant(name, amount, plan.limit(name), LIMIT_METRICS[name])
        for name, amount in amounts.items()
    ]
    refused = await services.store.hold_quota(
        business_id, hold_id, wants, first, last, now, ttl_ms, MAX_IN_FLIGHT
    )
    if refused == IN_FLIGHT:
        raise RelayError(
            429, "rate_limited", "Too many calls at once for this business.", retry_after_s=1
        )
    if refused is not None:
        limit = next(want.limit for want in wants if want.name == refused)
        raise RelayError(
            429,
            "quota_exceeded",
            f"This month's {refused.replace('_', ' ')} limit ({limit:g}) is used up; "
            f"it resets on {resets}.",
            limit=limit,
            resets_on=resets,
        )
    return hold_id


async def release(services: Services, hold_id: str) -> None:
    await services.store.release_quota(hold_id)


async def warn_if_crossed(services: Services, business_id: str, *limits: Limit) -> None:
    """Send a usage warning to every device the first time 80 % and 100 % are reached."""
    plan = plan_for(services)
    usage = await month_usage(services, business_id)
    for name in limits:
        limit = plan.limit(name)
        if not limit:
            continue
        share = usage.used(name) / limit
        for level in WARN_AT:
            key = f"{usage.resets_on}:{name}:{level}"
            if share >= level and await services.store.claim_warning(business_id, key):
                log.info(
                    "usage warning",
                    extra={"business_id": business_id, "metric": name, "level": level},
                )
                await services.store.append(
                    [
                        system_event(
                            business_id,
                            UsageWarning(
                                timestamp_ms=now_ms(),
                                metric=name,
                                used=usage.used(name),
                                limit=limit,
                                share=round(share, 3),
                                resets_on=usage.resets_on,
                            ),
                        )
                    ]
                )


@get("/usage")
async def read_usage(
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
    first: FromQuery[str | None] = None,
    last: FromQuery[str | None] = None,
    group: FromQuery[UsageGroup] = "day",
) -> UsageReport:
    """Usage by date range (``first``/``last`` as YYYY-MM-DD, default this month)."""
    today = dt.date.fromisoformat(utc_day(now_ms()))
    month_first, month_last, _ = _month_bounds(today)
    try:
        first_day = dt.date.fromisoformat(first or month_first).isoformat()
        last_day = dt.date.fromisoformat(last or month_last).isoformat()
    except ValueError:
        raise RelayError(400, "bad_request", "Dates must look like 2026-11-29.") from None
    grouped: dict[tuple[str, ...], dict[str, float]] = {}
    for row in await services.store.usage(principal.business_id, first_day, last_day):
        key = {
            "day": (row.day,),
            "channel": (row.channel_id,),
            "metric": (),
            "day_channel": (row.day, row.channel_id),
        }[group]
        bucket = grouped.setdefault(key, {})
        bucket[row.metric] = bucket.get(row.metric, 0.0) + row.value
    names = {
        "day": ("day",),
        "channel": ("channel_id",),
        "metric": (),
        "day_channel": ("day", "channel_id"),
    }[group]
    rows: list[dict[str, str | float]] = [
        {**dict(zip(names, key, strict=True)), **values} for key, values in sorted(grouped.items())
    ]
    usage = await month_usage(services, principal.business_id)
    return UsageReport(
        rows=rows,
        plan={name: plan_for(services).limit(name) for name in LIMIT_METRICS},
        month={
            "outbound_messages": usage.outbound_messages,
            "ai_tokens": usage.ai_tokens,
            "ai_cost_usd": round(usage.ai_cost_usd, 6),
        },
        resets_on=usage.resets_on,
    )


def usage_router() -> Router:
    return Router(
        "/v1", route_handlers=[read_usage], dependencies={"principal": Provide(provide_principal)}
    )
