"""Rows and the storage interface every relay store implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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

    # password attempts (relay/accounts.py)
    async def password_blocked_until(self, key: str) -> int:
        """Until when (ms) password checks for ``key`` are refused; 0 when they are not."""

    async def add_password_failure(
        self, key: str, now_ms: int, forget_ms: int, delay_ms: Callable[[int], int]
    ) -> int:
        """Count a failure (a streak older than ``forget_ms`` starts again at one) and block
        ``key`` for ``delay_ms(failures)``; returns the new ``blocked_until_ms``."""

    async def clear_password_failures(self, key: str) -> None: ...

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
        platform: Platform,
        external_id: str,
        name: str | None,
        key_id: str,
        secret: bytes,
        account_id: str | None = None,
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
    async def reseal_channel(self, channel_id: str, old: bytes, key_id: str, secret: bytes) -> bool:
        """Put ``secret`` (the same credential under another key) in place of ``old``;
        False, and nothing changes, if the channel is gone or its secret changed since."""

    async def delete_channel(
        self, business_id: str, channel_id: str, farewell: NewEvent | None
    ) -> bool:
        """Erase the channel, its credentials, pending events and dedupe keys; then append
        ``farewell`` (a business-wide event) in the same transaction. As with an erasure,
        the deleted bytes are then made unrecoverable from the files where the engine
        allows it (SQLite: a WAL checkpoint)."""

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
        lease_ms: int = 300_000,
    ) -> SendClaim:
        """Take an idempotency key for ``lease_ms``. ``auto_reply_to`` (an inbound message
        id) may be claimed by one automatic send only: another key gets
        ``already_replied``. A pending claim past its lease comes back ``unknown``."""

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

    async def hold_quota(
        self,
        business_id: str,
        hold_id: str,
        wants: Sequence[QuotaWant],
        first_day: str,
        last_day: str,
        now_ms: int,
        ttl_ms: int,
        max_in_flight: int,
    ) -> str | None:
        """Reserve each want under ``hold_id`` until ``now_ms + ttl_ms``, in one step with
        the check: the month's use (days ``first_day``..``last_day``) plus live holds plus
        the amount must stay within each limit. None when held; else the name of the
        limit it would pass, or ``in_flight`` when the business already holds
        ``max_in_flight`` calls (nothing is held then)."""

    async def release_quota(self, hold_id: str) -> None:
        """Drop a hold (its real use was counted, or the call never ran)."""

    async def claim_warning(self, business_id: str, key: str) -> bool:
        """True the first time ``key`` is claimed for the business (one warning per level)."""

    # erasure
    async def erase_customer(
        self,
        business_id: str,
        channel_id: str,
        customer_id: str,
        request_id: str,
        event: NewEvent,
        dedupe_key_of: DedupeKeyOf,
        deletion_code: str | None = None,
        tombstones: bool = False,
    ) -> ErasureRow | None:
        """In one transaction: delete the customer's events on the channel, their contact
        row, the dedupe keys of those events and any key of the channel that contains
        ``customer_id``, the sends that produced those events; record the erasure under
        ``request_id``; append ``event``. With ``tombstones``, a one-way hash of each
        erased event's key stays (until keys expire), so a platform's redelivery of an
        erased message is dropped like any duplicate. None (and nothing done) if the channel is not
        the business's. Deleted bytes are made unrecoverable from the files where the
        engine allows it (SQLite: secure_delete and a WAL checkpoint)."""

    async def channels_with_customer(
        self, customer_id: str, platforms: Sequence[str]
    ) -> list[ChannelRow]:
        """Channels of any business, on these platforms, holding events or a contact row
        of ``customer_id`` (for a platform's deletion request, which names no business)."""

    async def erasure(self, business_id: str, request_id: str) -> ErasureRow | None: ...
    async def erasures_for_request(self, deletion_code: str) -> list[ErasureRow]: ...
    async def confirm_erasure(
        self, business_id: str, request_id: str, device_id: str, counts: bytes, now_ms: int
    ) -> bool:
        """Record a device's confirmation (the first one counts). False if the erasure or
        the device is not the business's."""

    async def erasure_confirmations(
        self, business_id: str, request_id: str
    ) -> list[ConfirmationRow]: ...
    async def add_deletion_request(self, row: DeletionRequestRow) -> None: ...
    async def deletion_request(self, code: str) -> DeletionRequestRow | None: ...
    async def delete_business(self, business_id: str) -> bool:
        """Erase everything of the business (users, sessions, devices, channels and their
        credentials, events, dedupe keys, contacts, sends, usage, erasure records)."""

    # retention
    async def expire(self, cutoffs: RetentionCutoffs, batch: int) -> RetentionCounts:
        """Delete what is past its time, at most ``batch`` rows per transaction, so no
        write waits long behind it. Acknowledged events go first (an event counts as
        acknowledged when the business has devices and every cursor reached it); what
        is left older than ``unacked_before_ms`` is counted as never acknowledged."""

    # channel onboarding (relay/onboarding.py)
    async def create_meta_login(self, row: MetaLoginRow) -> None:
        """Store a new login; logins past ``expires_at_ms`` are removed in the same write."""

    async def meta_login(self, business_id: str, login_id: str) -> MetaLoginRow | None: ...
    async def meta_login_by_state(self, state_hash: str) -> MetaLoginRow | None: ...
    async def claim_meta_login(self, state_hash: str, now_ms: int) -> MetaLoginRow | None:
        """Use a login's state once: if it was pending, unused and not expired, mark it
        used and return the row; else None, and nothing changes."""

    async def update_meta_login(
        self,
        login_id: str,
        status: str,
        message: str | None,
        key_id: str,
        listing: bytes | None,
        expires_at_ms: int,
    ) -> None: ...
    async def sealed_meta_logins(self) -> list[MetaLoginRow]:
        """Every login holding an encrypted listing (any business: for re-keying)."""

    async def reseal_meta_login(
        self, login_id: str, old: bytes, key_id: str, listing: bytes
    ) -> bool:
        """As ``reseal_channel``, for a login's listing."""

    async def expire_meta_logins(self, now_ms: int) -> int:
        """Delete logins past their time, and those of businesses that no longer exist."""

    # channel health (relay/health.py)
    async def save_channel_health(self, row: ChannelHealthRow) -> None:
        """Insert or replace ``node_id``, ``avatar_url`` and ``checks`` (never the
        ``last_*`` activity columns) of a channel that exists."""

    async def record_channel_activity(
        self,
        events: Mapping[str, int],
        sends: Mapping[str, tuple[int, bool, str | None]],
    ) -> None:
        """Move channels' last event time (``events``: channel id -> ms) and last send
        (``sends``: channel id -> (ms, ok, error code)) forward; older values and unknown
        channels are ignored."""

    async def channel_health(
        self, business_id: str, channel_id: str
    ) -> ChannelHealthRow | None: ...
    async def channels_health(self, business_id: str) -> list[ChannelHealthRow]: ...
    async def channels_on_node(self, node_id: str) -> list[str]:
        """Ids of existing channels (any business) whose webhooks come through ``node_id``."""

    async def forget_channel_health(self, channel_id: str | None = None) -> int:
        """Delete the health row of ``channel_id``; with None, every row whose channel is gone."""

    # the away reply (relay/away.py)
    async def device_connected(
        self, business_id: str, device_id: str, now_ms: int, stale_before_ms: int
    ) -> None:
        """Count one more open stream of the device (a count last seen before
        ``stale_before_ms`` was left by a process that died: it restarts at one)."""

    async def device_seen(self, device_id: str, now_ms: int) -> None:
        """The device's stream is still open (a heartbeat)."""

    async def device_disconnected(self, device_id: str, now_ms: int) -> None:
        """One stream of the device closed."""

    async def presence(self, business_id: str, stale_before_ms: int) -> tuple[bool, int | None]:
        """Whether a device of the business has a stream open (seen since
        ``stale_before_ms``), and when one was last seen (None: never)."""

    async def set_away_channel(
        self, business_id: str, channel_id: str, enabled: bool, minutes: int
    ) -> bool:
        """Save a channel's away switch; False if the channel is not the business's."""

    async def away_channels(self, business_id: str) -> dict[str, tuple[bool, int]]:
        """Channel id -> (enabled, minutes), for channels with a saved switch."""

    async def set_away_messages(self, business_id: str, messages: bytes) -> None: ...
    async def away_messages(self, business_id: str) -> bytes | None: ...
    async def first_of_customer(self, channel_id: str, customer_id: str, seq: int) -> bool:
        """True when the log holds no event of the customer on the channel before ``seq``."""
