"""The rows the relay's store reads and writes (``relay.store.queries`` holds its queries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from common.channels import ChannelStatus, Platform
from common.onboarding import MetaLoginStatus

__all__ = [
    "ChannelHealthRow",
    "ChannelRow",
    "ConfirmationRow",
    "Conflict",
    "DedupeKeyOf",
    "DeletionRequestRow",
    "DeviceRow",
    "ErasureRow",
    "MetaLoginRow",
    "NewEvent",
    "QuotaWant",
    "RetentionCounts",
    "RetentionCutoffs",
    "SendClaim",
    "SessionRow",
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
    platform: Platform
    external_id: str
    name: str | None
    status: ChannelStatus
    key_id: str
    secret: bytes
    created_at_ms: int
    #: WhatsApp: the Business Account holding the number, whose account-level webhooks
    #: (templates, quality, alerts) concern this channel. Not a secret.
    account_id: str | None = None

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
class QuotaWant:
    """``amount`` of a monthly limit ``name`` (0: none), whose use is the sum of these
    usage ``metrics``."""

    name: str
    amount: float
    limit: float
    metrics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendClaim:
    """The state of an idempotency key: ``new`` means this caller now owns the send;
    ``unknown``, that its owner held it past the lease without an outcome (it crashed or
    hung): the send may or may not have gone out."""

    send_id: str
    state: Literal["new", "pending", "sent", "failed", "already_replied", "unknown"]
    fingerprint: str
    result: bytes | None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ErasureRow:
    """One customer erased from one channel: what the relay removed, never whom."""

    request_id: str
    business_id: str
    business_name: str
    channel_id: str
    platform: str
    channel_name: str | None
    erased_at_ms: int
    events: int
    contacts: int
    dedupe_keys: int
    sends: int
    #: The Meta data-deletion request that caused it, if one did.
    deletion_code: str | None = None

    def relay_counts(self) -> dict[str, int]:
        return {
            "events": self.events,
            "contacts": self.contacts,
            "dedupe_keys": self.dedupe_keys,
            "sends": self.sends,
        }


@dataclass(frozen=True, slots=True)
class ConfirmationRow:
    """A device's report that it erased the customer too; ``counts`` is its JSON."""

    request_id: str
    device_id: str
    device_name: str
    confirmed_at_ms: int
    counts: bytes


@dataclass(frozen=True, slots=True)
class DeletionRequestRow:
    """A Meta data-deletion request, as its public status page shows it (no personal data)."""

    code: str
    received_at_ms: int
    channels: int
    events: int


@dataclass(frozen=True, slots=True)
class RetentionCutoffs:
    """Rows older than these instants (ms since the epoch) are past their time."""

    #: Events every device of their business acknowledged, by when they were stored.
    acked_before_ms: int
    #: Any event, acknowledged or not, by when it was stored.
    unacked_before_ms: int
    #: Dedupe keys and send idempotency keys, by when they were created.
    keys_before_ms: int
    #: Messaging-window contacts, by the customer's last action.
    contacts_before_ms: int


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    acked_events: int = 0
    unacked_events: int = 0
    dedupe_keys: int = 0
    sends: int = 0
    contacts: int = 0


@dataclass(frozen=True, slots=True)
class MetaLoginRow:
    """One "Connect with Facebook" attempt: a single-use state (stored hashed) bound to a
    business and device, and what Facebook granted (``listing``, encrypted, short-lived)."""

    id: str
    business_id: str
    device_id: str
    state_hash: str
    status: MetaLoginStatus
    message: str | None
    key_id: str
    listing: bytes | None
    created_at_ms: int
    expires_at_ms: int
    state_used: bool = False

    def __repr__(self) -> str:  # the encrypted listing stays out of logs
        return f"MetaLoginRow(id={self.id!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class ChannelHealthRow:
    """What the relay knows of a channel's health. ``node_id`` is the Page or WhatsApp
    Business account its webhooks are subscribed on; ``checks`` is JSON the health module
    reads and writes; the ``last_*`` columns only ever move forward."""

    channel_id: str
    business_id: str
    node_id: str = ""
    avatar_url: str | None = None
    checks: bytes = b""
    last_event_at_ms: int | None = None
    last_send_at_ms: int | None = None
    last_send_ok: bool | None = None
    last_send_error: str | None = None


CommitListener = Callable[[set[str]], None]

#: The dedupe key an event was stored under, from its kind and payload (None: it had none).
DedupeKeyOf = Callable[[str, bytes], str | None]
