"""The relay's storage: one ``Store`` of queries, over a SQLite or a PostgreSQL driver."""

from __future__ import annotations

from urllib.parse import parse_qsl

from relay.store.base import (
    ChannelRow,
    Conflict,
    DeviceRow,
    NewEvent,
    SendClaim,
    SessionRow,
    StoredEvent,
    UsageRow,
    UserRow,
)
from relay.store.postgres import PostgresStore
from relay.store.queries import SqlStore
from relay.store.sqlite import SqliteStore

__all__ = [
    "ChannelRow",
    "Conflict",
    "DeviceRow",
    "NewEvent",
    "PostgresStore",
    "SendClaim",
    "SessionRow",
    "SqliteStore",
    "Store",
    "StoredEvent",
    "UsageRow",
    "UserRow",
    "open_store",
]

#: What the relay is handed: the queries are one class; drivers differ only in how SQL runs.
Store = SqlStore


async def open_store(database_url: str) -> Store:
    """Open the store a ``database_url`` names: ``sqlite:///PATH`` or ``postgresql://...``."""
    if database_url.startswith("sqlite:///"):
        # ``?synchronous=normal`` trades the last commits before a power loss (never a
        # killed process's) for throughput; FULL is the default (docs/relay.md).
        path, _, query = database_url.removeprefix("sqlite:///").partition("?")
        options = dict(parse_qsl(query))
        synchronous = options.pop("synchronous", "full").lower()
        if options or synchronous not in ("full", "normal"):
            raise ValueError("sqlite URL options: only synchronous=full|normal")
        return await SqliteStore.open(path, synchronous=synchronous)
    if database_url.startswith(("postgresql://", "postgres://")):
        return await PostgresStore.open(database_url)
    raise ValueError("unsupported database URL (expected sqlite:///PATH or postgresql://...)")
