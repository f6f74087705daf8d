"""The relay's storage: one interface, an SQLite implementation (PostgreSQL to follow)."""

from __future__ import annotations

from relay.store.base import (
    ChannelRow,
    Conflict,
    DeviceRow,
    NewEvent,
    SendClaim,
    SessionRow,
    Store,
    StoredEvent,
    UserRow,
)
from relay.store.sqlite import SqliteStore

__all__ = [
    "ChannelRow",
    "Conflict",
    "DeviceRow",
    "NewEvent",
    "SendClaim",
    "SessionRow",
    "SqliteStore",
    "Store",
    "StoredEvent",
    "UserRow",
    "open_store",
]


async def open_store(database_url: str) -> Store:
    """Open the store a ``database_url`` names; only ``sqlite:///PATH`` so far."""
    if database_url.startswith("sqlite:///"):
        return await SqliteStore.open(database_url.removeprefix("sqlite:///"))
    raise ValueError("unsupported database URL (expected sqlite:///PATH)")
