"""Retention: what the relay forgets, and when, driven by an explicit clock (no sleeping)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relay.app import create_app
from relay.retention import DAY_MS, cutoffs, run_retention
from relay.settings import Settings
from relay.store import NewEvent, SqliteStore
from relay.store.base import RetentionCounts
from tests.conftest import relay_settings
from tests.fakes.server import serve_app

# A guard against a hang, never a measured time.
WAIT_S = 10.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def note(
    business_id: str,
    text: str,
    *,
    channel_id: str | None = None,
    customer_id: str | None = None,
    dedupe_key: str | None = None,
) -> NewEvent:
    return NewEvent(
        id=uuid.uuid4().hex,
        business_id=business_id,
        kind="message" if customer_id else "note",
        payload=text.encode(),
        timestamp_ms=_now_ms(),
        channel_id=channel_id,
        customer_id=customer_id,
        dedupe_key=dedupe_key,
        inbound=customer_id is not None,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An empty SQLite store (the contract suite runs retention on PostgreSQL too)."""
    opened = await SqliteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


SETTINGS = Settings(retention_days=7, unacked_max_days=30, dedupe_ttl_s=7 * 86_400)


async def test_acknowledged_events_go_after_the_window_others_after_the_maximum(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Acked events go after 7 days; one a device never acked goes at 30, with a warning."""
    user = await store.create_business("Shop", "Owner", "o@example.com", "h")
    biz = user.business_id
    laptop = await store.create_device(biz, "Laptop")
    phone = await store.create_device(biz, "Phone")
    seqs = [s for s in await store.append([note(biz, f"private {i}") for i in range(3)]) if s]
    await store.advance_cursor(biz, laptop.id, seqs[2])
    await store.advance_cursor(biz, phone.id, seqs[1])
    start = _now_ms()

    assert await run_retention(store, SETTINGS, start + 6 * DAY_MS) == RetentionCounts()
    counts = await run_retention(store, SETTINGS, start + 8 * DAY_MS)
    assert counts.acked_events == 2
    assert [e.payload for e in await store.events_after(biz, 0, 10)] == [b"private 2"]

    with caplog.at_level(logging.WARNING, logger="clientora.relay.retention"):
        counts = await run_retention(store, SETTINGS, start + 31 * DAY_MS)
    assert counts.unacked_events == 1
    assert await store.events_after(biz, 0, 10) == []
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.__dict__["events"] == 1
    assert "private" not in warning.getMessage()


async def test_dedupe_keys_expire_after_their_time(store: SqliteStore) -> None:
    """A platform message id is a duplicate within the TTL and new again after it."""
    biz = uuid.uuid4().hex
    await store.append([note(biz, "a", channel_id="c1", dedupe_key="message:m1")])
    start = _now_ms()
    await run_retention(store, SETTINGS, start + 6 * DAY_MS)
    assert await store.append([note(biz, "a", channel_id="c1", dedupe_key="message:m1")]) == [None]
    counts = await run_retention(store, SETTINGS, start + 8 * DAY_MS)
    assert counts.dedupe_keys == 1
    [again] = await store.append([note(biz, "a", channel_id="c1", dedupe_key="message:m1")])
    assert again is not None


async def test_contacts_go_once_no_messaging_window_can_be_open(store: SqliteStore) -> None:
    """The last-message time of a customer is kept while a reply window may still be open."""
    user = await store.create_business("Shop", "Owner", "o@example.com", "h")
    await store.append([note(user.business_id, "hi", channel_id="c1", customer_id="psid-1")])
    start = _now_ms()
    await run_retention(store, SETTINGS, start + 7 * DAY_MS)
    assert await store.last_inbound("c1", "psid-1") is not None
    counts = await run_retention(store, SETTINGS, start + 9 * DAY_MS)
    assert counts.contacts == 1
    assert await store.last_inbound("c1", "psid-1") is None


def test_cutoffs_follow_the_settings() -> None:
    """Each cutoff is now minus its configured age."""
    settings = Settings(retention_days=2, unacked_max_days=5, dedupe_ttl_s=3_600)
    now = 100 * DAY_MS
    found = cutoffs(settings, now)
    assert found.acked_before_ms == 98 * DAY_MS
    assert found.unacked_before_ms == 95 * DAY_MS
    assert found.keys_before_ms == now - 3_600_000
    assert found.contacts_before_ms < now - 7 * DAY_MS


async def test_the_relay_runs_retention_when_it_starts(tmp_path: Path) -> None:
    """A relay started over a log with long-acknowledged events removes them at once."""
    store = await SqliteStore.open(tmp_path / "relay.db")
    user = await store.create_business("Shop", "Owner", "o@example.com", "h")
    device = await store.create_device(user.business_id, "Laptop")
    seqs = await store.append([note(user.business_id, "old"), note(user.business_id, "older")])
    await store.advance_cursor(user.business_id, device.id, max(s or 0 for s in seqs))
    await store.close()
    # Test data only: the events were stored ten days ago.
    with sqlite3.connect(tmp_path / "relay.db") as db:
        db.execute("UPDATE events SET stored_at_ms = stored_at_ms - ?", (10 * DAY_MS,))
    db.close()

    app = create_app(relay_settings(tmp_path))
    with serve_app(app) as served:
        assert httpx.get(f"{served.url}/readyz").status_code == 200
        deadline = time.monotonic() + WAIT_S
        while True:
            with sqlite3.connect(tmp_path / "relay.db") as db:
                (left,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
            db.close()
            if left == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    assert left == 0
