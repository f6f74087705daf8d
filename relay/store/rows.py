"""Column lists and row readers both relay stores share (same SQL, same rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relay.store.base import ChannelHealthRow, MetaLoginRow

__all__ = [
    "ERASURE_COLUMNS",
    "ERASURE_FROM",
    "HEALTH_COLUMNS",
    "LOGIN_COLUMNS",
    "health_row",
    "login_row",
]

LOGIN_COLUMNS = (
    "id, business_id, device_id, state_hash, status, message, key_id, listing, created_at_ms,"
    " expires_at_ms, state_used"
)


HEALTH_COLUMNS = (
    "channel_id, business_id, node_id, avatar_url, checks, last_event_at_ms, last_send_at_ms,"
    " last_send_ok, last_send_error"
)


def login_row(row: Sequence[Any]) -> MetaLoginRow:
    return MetaLoginRow(
        id=row[0],
        business_id=row[1],
        device_id=row[2],
        state_hash=row[3],
        status=row[4],
        message=row[5],
        key_id=row[6],
        listing=row[7],
        created_at_ms=row[8],
        expires_at_ms=row[9],
        state_used=bool(row[10]),
    )


def health_row(row: Sequence[Any]) -> ChannelHealthRow:
    return ChannelHealthRow(
        channel_id=row[0],
        business_id=row[1],
        node_id=row[2],
        avatar_url=row[3],
        checks=bytes(row[4]),
        last_event_at_ms=row[5],
        last_send_at_ms=row[6],
        last_send_ok=None if row[7] is None else bool(row[7]),
        last_send_error=row[8],
    )


ERASURE_COLUMNS = (
    "e.request_id, e.business_id, COALESCE(b.name, ''), e.channel_id, e.platform,"
    " e.channel_name, e.erased_at_ms, e.events, e.contacts, e.dedupe_keys, e.sends,"
    " e.deletion_code"
)


ERASURE_FROM = "erasures e LEFT JOIN businesses b ON b.id = e.business_id"
