"""Rows and the storage interface every relay store implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "ChannelRow",
    "Conflict",
    "DeviceRow",
    "NewEvent",
    "SendClaim",
    "SessionRow",
    "Store",
    "StoredEvent",
    "UsageRow",
    "UserRow",
]


class Conflict(Exception):
    """A unique thing (e-mail, channel) already exists."""


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    business_id: str
    name: str
    email: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    user_id: str
    business_id: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    business_id: str
    name: str
    cursor: int
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: str
    business_id: str
    platform: str
    external_id: str
    name: str | None
    status: str
    key_id: str
    secret: bytes
    created_at_ms: int

    def __repr__(self) -> str:  # the ciphertext stays out of logs too
        return f"ChannelRow(id={self.id!r}, platform={self.platform!r})"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``dedupe_key`` drops repeats per channel; ``inbound`` marks a
    customer action that opens the messaging window."""

    id: str
    business_id: str
    kind: str
    payload: bytes
    timestamp_ms: int
    channel_id: str | None = None
    customer_id: str | None = None
    dedupe_key: str | None = None
    inbound: bool = False
    #: Usage counter this event adds one to when stored (e.g. ``inbound_messages``).
    usage_metric: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    stored_at_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One counter of one business, channel (``""`` for none) and UTC day."""

    channel_id: str
    day: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class SendClaim:
    """The state of an idempotency key: ``new`` means this caller now owns the send."""

    send_id: str
    state: Literal["new", "pending", "sent", "failed", "already_replied"]
    fingerprint: str
    result: bytes | None
    seq: int | None = None


CommitListener = Callable[[set[str]], None]


class Store(Protocol):
    """Every query names its business; nothing crosses from one business to another."""

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` with the business ids that have new events after each commit."""

    async def close(self) -> None: ...

    # accounts
    async def create_business(
        self, business_name: str, user_name: str, email: str, password_hash: str
    ) -> UserRow: ...
    async def user_by_email(self, email: str) -> UserRow | None: ...
    async def user(self, business_id: str, user_id: str) -> UserRow | None: ...
    async def set_password(self, business_id: str, user_id: str, password_hash: str) -> None: ...
    async def create_session(self, token_hash: str, user: UserRow, expires_at_ms: int) -> None: ...
    async def session(self, token_hash: str, now_ms: int) -> SessionRow | None: ...
    async def revoke_session(self, token_hash: str) -> None: ...
    async def revoke_user_sessions(self, user_id: str, keep: str | None = None) -> int: ...

    # devices
    async def create_device(self, business_id: str, name: str) -> DeviceRow: ...
    async def device(self, business_id: str, device_id: str) -> DeviceRow | None: ...
    async def devices(self, business_id: str) -> list[DeviceRow]: ...
    async def advance_cursor(self, business_id: str, device_id: str, seq: int) -> None: ...

    # channels
    async def create_channel(
        self,
        business_id: str,
        channel_id: str,
        platform: str,
        external_id: str,
        name: str | None,
        key_id: str,
        secret: bytes,
    ) -> ChannelRow: ...
    async def channels(self, business_id: str) -> list[ChannelRow]: ...
    async def channel(self, business_id: str, channel_id: str) -> ChannelRow | None: ...
    async def channel_by_id(self, channel_id: str) -> ChannelRow | None:
        """Any business's channel: only for routing a webhook that names it."""

    async def all_channels(self) -> list[ChannelRow]: ...
    async def set_channel_status(self, business_id: str, channel_id: str, status: str) -> None: ...
    async def replace_secret(
        self, business_id: str, channel_id: str, key_id: str, secret: bytes
    ) -> None: ...
    async def delete_channel(
        self, business_id: str, channel_id: str, farewell: NewEvent | None
    ) -> bool:
        """Erase the channel, its credentials, pending events and dedupe keys; then append
        ``farewell`` (a business-wide event) in the same transaction."""

    # event log
    async def append(self, events: Sequence[NewEvent]) -> list[int | None]:
        """Store events durably, in order; a duplicate's slot is None."""

    async def events_after(self, business_id: str, after: int, limit: int) -> list[StoredEvent]: ...
    async def head(self, business_id: str) -> int: ...
    async def last_inbound(self, channel_id: str, customer_id: str) -> int | None: ...
    async def customer_events(
        self, channel_id: str, customer_id: str, after: int, limit: int
    ) -> list[StoredEvent]:
        """One customer's events on one channel (the web-chat page's history)."""

    # sends
    async def claim_send(
        self,
        business_id: str,
        key: str,
        fingerprint: str,
        channel_id: str,
        auto_reply_to: str | None,
    ) -> SendClaim:
        """Take an idempotency key. ``auto_reply_to`` (an inbound message id) may be
        claimed by one automatic send only: another key gets ``already_replied``."""

    async def finish_send(self, send_id: str, ok: bool, result: bytes, event: NewEvent) -> int:
        """Record the outcome and append its event in one transaction; returns its seq."""

    async def release_send(self, send_id: str) -> None:
        """Forget a claim whose send failed transiently, so the same key may try again."""

    # usage
    async def add_usage(
        self, business_id: str, channel_id: str, deltas: Mapping[str, float], now_ms: int
    ) -> None:
        """Add to today's (UTC) counters, atomically under any concurrency."""

    async def usage(self, business_id: str, first_day: str, last_day: str) -> list[UsageRow]:
        """Counters for days ``first_day``..``last_day`` (``YYYY-MM-DD``, inclusive)."""

    async def claim_warning(self, business_id: str, key: str) -> bool:
        """True the first time ``key`` is claimed for the business (one warning per level)."""
