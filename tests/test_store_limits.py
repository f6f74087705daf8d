"""Quota holds and password back-off counters, the same on both stores."""

from __future__ import annotations

import asyncio

from relay.store import NewEvent, Store
from relay.store.base import QuotaWant
from relay.store.clock import utc_day
from relay.store.quotas import IN_FLIGHT

NOW = 1_796_000_000_000
DAY = utc_day(NOW)
MESSAGES = ("outbound_auto", "outbound_manual")


async def _hold(store: Store, biz: str, hold_id: str, limit: float = 3) -> str | None:
    want = QuotaWant("outbound_messages", 1, limit, MESSAGES)
    return await store.hold_quota(biz, hold_id, [want], DAY, DAY, NOW, 60_000, 10)


async def test_concurrent_holds_never_pass_the_limit(store: Store) -> None:
    """Ten holds at once against a limit of three: exactly three are granted."""
    biz = (await store.create_business("Shop", "Owner", "o@example.com", "h")).business_id
    outcomes = await asyncio.gather(*(_hold(store, biz, f"h{i}") for i in range(10)))
    assert outcomes.count(None) == 3
    assert set(outcomes) == {None, "outbound_messages"}


async def test_counted_use_and_live_holds_add_up(store: Store) -> None:
    """Use already counted this month takes room; a released or lapsed hold gives it back."""
    biz = (await store.create_business("Shop", "Owner", "o@example.com", "h")).business_id
    await store.add_usage(biz, "", {"outbound_manual": 2}, NOW)
    assert await _hold(store, biz, "a") is None
    assert await _hold(store, biz, "b") == "outbound_messages"
    await store.release_quota("a")
    assert await _hold(store, biz, "b") is None
    lapsed = QuotaWant("outbound_messages", 1, 4, MESSAGES)
    assert await store.hold_quota(biz, "c", [lapsed], DAY, DAY, NOW + 60_000, 1, 10) is None


async def test_calls_in_flight_are_bounded(store: Store) -> None:
    """With ``max_in_flight`` holds live, the next is refused as in flight, holding nothing."""
    biz = (await store.create_business("Shop", "Owner", "o@example.com", "h")).business_id
    free = QuotaWant("ai_tokens", 10, 0, ("prompt_tokens",))
    for i in range(2):
        assert await store.hold_quota(biz, f"h{i}", [free], DAY, DAY, NOW, 60_000, 2) is None
    assert await store.hold_quota(biz, "h2", [free], DAY, DAY, NOW, 60_000, 2) == IN_FLIGHT
    await store.append([NewEvent("e", biz, "note", b"{}", NOW)])  # the business still writes


async def test_password_failures_back_off_and_are_forgiven(store: Store) -> None:
    """Failures count up (a stale streak restarts), block by the delay the caller computes,
    and a success clears them."""
    assert await store.password_blocked_until("k") == 0
    delays = [await store.add_password_failure("k", NOW, 1_000, lambda n: n * 10) for _ in "abc"]
    assert delays == [NOW + 10, NOW + 20, NOW + 30]
    assert await store.password_blocked_until("k") == NOW + 30
    assert await store.add_password_failure("k", NOW + 5_000, 1_000, lambda n: n * 10) == (
        NOW + 5_010
    )
    await store.clear_password_failures("k")
    assert await store.password_blocked_until("k") == 0
