"""Schema migrations: a database made before versioning opens, upgrades and keeps every row."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from relay.store import NewEvent, PostgresStore, SqliteStore, Store
from relay.store.schema import POSTGRES, SQLITE
from tests.pg import pg_schema

# Migration 1 is the schema exactly as the relay created it before it had versions
# (it must never change), so a database made by it is a database made by that relay.
_BEFORE_SQLITE = SQLITE[0]
_BEFORE_POSTGRES = POSTGRES[0]

BIZ = "b1"
CHANNEL = "c1"

# One row in every table of the unversioned schema: (table, columns, values).
ROWS: Sequence[tuple[str, str, tuple[Any, ...]]] = (
    ("businesses", "id, name, created_at_ms", (BIZ, "Shop", 1)),
    (
        "users",
        "id, business_id, name, email, password_hash, created_at_ms",
        ("u1", BIZ, "Owner", "owner@example.com", "hash", 1),
    ),
    ("sessions", "token_hash, user_id, business_id, expires_at_ms", ("t1", "u1", BIZ, 2**40)),
    ("devices", "id, business_id, name, cursor, created_at_ms", ("d1", BIZ, "Laptop", 1, 1)),
    (
        "channels",
        "id, business_id, platform, external_id, name, status, key_id, secret, created_at_ms",
        (CHANNEL, BIZ, "messenger", "page-1", "Page", "connected", "k1", b"\x00sealed", 1),
    ),
    (
        "events",
        "seq, id, business_id, channel_id, customer_id, kind, stored_at_ms, payload",
        (1, "e1", BIZ, CHANNEL, "cust", "message_received", 1, b"{}"),
    ),
    ("dedupe", "channel_id, key, created_at_ms", (CHANNEL, "mid-1", 1)),
    ("contacts", "channel_id, customer_id, last_inbound_ms", (CHANNEL, "cust", 1)),
    (
        "sends",
        "id, business_id, key, fingerprint, channel_id, state, result, seq, created_at_ms",
        ("s1", BIZ, "key-1", "fp", CHANNEL, "sent", b"{}", 1, 1),
    ),
    (
        "usage",
        "business_id, channel_id, day, metric, value",
        (BIZ, CHANNEL, "2026-01-01", "m", 2.5),
    ),
    ("usage_warnings", "business_id, key", (BIZ, "2026-01:80")),
    (
        "erasures",
        "request_id, business_id, channel_id, platform, channel_name, erased_at_ms, events,"
        " contacts, dedupe_keys, sends",
        ("r1", BIZ, CHANNEL, "messenger", "Page", 1, 0, 0, 0, 0),
    ),
    (
        "erasure_confirmations",
        "request_id, device_id, device_name, confirmed_at_ms, counts",
        ("r1", "d1", "Laptop", 1, b"{}"),
    ),
    ("deletion_requests", "code, received_at_ms, channels, events", ("code-1", 1, 1, 0)),
    (
        "meta_logins",
        "id, business_id, device_id, state_hash, status, key_id, created_at_ms, expires_at_ms",
        ("l1", BIZ, "d1", "state", "pending", "k1", 1, 2**40),
    ),
    ("channel_health", "channel_id, business_id, node_id", (CHANNEL, BIZ, "page-1")),
)


def _numbered(sql: str) -> str:
    count = iter(range(1, 100))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


def _insert(table: str, columns: str, values: tuple[Any, ...]) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(values))})"


async def _still_there(store: Store) -> None:
    """What the rows hold is read back through the store."""
    user = await store.user_by_email("owner@example.com")
    assert user is not None and user.business_id == BIZ
    channel = await store.channel(BIZ, CHANNEL)
    assert channel is not None and channel.secret == b"\x00sealed"
    assert [e.id for e in await store.events_after(BIZ, 0, 10)] == ["e1"]
    assert (await store.devices(BIZ))[0].cursor == 1
    assert await store.deletion_request("code-1") is not None
    # New events continue the log after the old ones.
    [seq] = await store.append([_event()])
    assert seq is not None and seq > 1


def _event() -> NewEvent:
    return NewEvent(id="e2", business_id=BIZ, kind="note", payload=b"{}", timestamp_ms=2)


async def test_an_unversioned_sqlite_database_is_upgraded_without_losing_a_row(
    tmp_path: Path,
) -> None:
    """A SQLite file made by the relay before migrations existed opens at the latest version
    with every row of every table still there."""
    path = tmp_path / "relay.db"
    with sqlite3.connect(path) as db:
        db.executescript(_BEFORE_SQLITE)
        for table, columns, values in ROWS:
            db.execute(_insert(table, columns, values), values)
    db.close()
    store = await SqliteStore.open(path)
    try:
        await _still_there(store)
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        for table, _, _ in ROWS:
            expected = 2 if table == "events" else 1
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == expected, table
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    db.close()
    assert versions == list(range(1, len(SQLITE) + 1))


async def test_a_sqlite_database_is_migrated_once(tmp_path: Path) -> None:
    """Opening an up-to-date database again applies nothing and keeps its rows."""
    first = await SqliteStore.open(tmp_path / "relay.db")
    await first.create_business("Shop", "Owner", "owner@example.com", "hash")
    await first.close()
    again = await SqliteStore.open(tmp_path / "relay.db")
    try:
        assert await again.user_by_email("owner@example.com") is not None
    finally:
        await again.close()
    with sqlite3.connect(tmp_path / "relay.db") as db:
        assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(SQLITE)
    db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A relay never opens a database a newer relay has migrated past what it knows."""
    store = await SqliteStore.open(tmp_path / "relay.db")
    await store.close()
    with sqlite3.connect(tmp_path / "relay.db") as db:
        db.execute("INSERT INTO schema_version (version, applied_at_ms) VALUES (999, 0)")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        await SqliteStore.open(tmp_path / "relay.db")


@pytest.mark.postgres
async def test_an_unversioned_postgres_database_is_upgraded_without_losing_a_row() -> None:
    """A PostgreSQL schema made by the relay before migrations existed opens at the latest
    version with every row of every table still there."""
    async with pg_schema() as dsn:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(_BEFORE_POSTGRES)
            for table, columns, values in ROWS:
                await admin.execute(_numbered(_insert(table, columns, values)), *values)
            await admin.execute(
                "INSERT INTO business_heads (business_id, head) VALUES ($1, 1)", BIZ
            )
            store = await PostgresStore.open(dsn)
            try:
                await _still_there(store)
            finally:
                await store.close()
            for table, _, _ in ROWS:
                expected = 2 if table == "events" else 1
                assert await admin.fetchval(f"SELECT count(*) FROM {table}") == expected, table
            versions = [r[0] for r in await admin.fetch("SELECT version FROM schema_version")]
            assert sorted(versions) == list(range(1, len(POSTGRES) + 1))
        finally:
            await admin.close()
