"""Typed rows of the local store: channels, customers, conversations, messages, drafts."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from common.channels import Platform
from common.events import Attachment, Location, SharedContact

__all__ = [
    "AUTHORS",
    "CONVERSATION_STATUSES",
    "DRAFT_STATES",
    "MESSAGE_STATUSES",
    "Author",
    "Channel",
    "Conversation",
    "ConversationQuery",
    "ConversationStatus",
    "Customer",
    "Direction",
    "Draft",
    "DraftState",
    "Message",
    "MessageExtras",
    "MessageKind",
    "MessageStatus",
    "NewDraft",
    "OutboxItem",
    "PauseReason",
    "SkippedEvent",
    "UsageNotice",
]

ConversationStatus = Literal["open", "waiting", "resolved", "snoozed"]
CONVERSATION_STATUSES: Final[tuple[ConversationStatus, ...]] = (
    "open",
    "waiting",
    "resolved",
    "snoozed",
)
Direction = Literal["in", "out"]
#: ``received`` is every inbound message; the others are an outbound message's life.
MessageStatus = Literal["received", "queued", "sending", "sent", "delivered", "read", "failed"]
MESSAGE_STATUSES: Final[tuple[MessageStatus, ...]] = (
    "received",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
)
#: customer: inbound; owner: a person here or on another device; assistant: an automatic
#: reply; elsewhere: sent from the platform's own app or inbox (an echo).
#: ``platform``: a note the platform made about the conversation (an opt-in, a handover).
#: ``server``: the relay's away reply, sent while no device was connected.
Author = Literal["customer", "owner", "assistant", "elsewhere", "platform", "server"]
AUTHORS: Final[tuple[Author, ...]] = ("customer", "owner", "assistant", "elsewhere")
MessageKind = Literal["message", "postback", "note"]
DraftState = Literal["pending", "approved", "sent", "discarded", "superseded", "shadow"]
DRAFT_STATES: Final[tuple[DraftState, ...]] = (
    "pending",
    "approved",
    "sent",
    "discarded",
    "superseded",
)
#: Why the assistant stopped answering a conversation on its own.
PauseReason = Literal["owner_reply", "echo", "manual"]


class Channel(msgspec.Struct, frozen=True, kw_only=True):
    """A connected (or formerly connected) channel, as the relay last described it."""

    id: str
    platform: Platform
    name: str | None
    status: str
    detail: str | None
    updated_at_ms: int
    #: The platform's latest notice about the channel (``ChannelAlert``), in plain words,
    #: its level (info, warning, problem) and when it came.
    alert: str | None = None
    alert_level: str | None = None
    alert_at_ms: int | None = None


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    """A person on one channel; ``platform_id`` is the platform's id (PSID, wa_id...)."""

    id: int
    channel_id: str
    platform: Platform
    platform_id: str
    name: str | None
    phone: str | None
    avatar_url: str | None
    #: Viber only: whether the customer may be messaged (None: not known).
    subscribed: bool | None


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """One conversation with its customer and a summary of its newest message.

    ``window_deadline_ms`` is when the platform's 24-hour window closes (None: the
    platform has none, or the customer never wrote). ``has_pending_draft``: a draft waits
    for approval.
    """

    id: int
    channel_id: str
    channel_name: str | None
    platform: Platform
    customer: Customer
    status: ConversationStatus
    snoozed_until_ms: int | None
    unread: int
    labels: tuple[str, ...]
    notes: str
    assistant_paused: bool
    paused_reason: PauseReason | None
    last_inbound_ms: int | None
    window_deadline_ms: int | None
    last_activity_ms: int
    last_message_id: int | None
    last_message_preview: str | None
    last_message_direction: Direction | None
    last_message_status: MessageStatus | None
    has_pending_draft: bool
    created_at_ms: int
    #: A hand-off waits: the assistant asked for a person to answer.
    needs_person: bool = False
    #: The newest message is a reply the assistant sent on its own (auto mode).
    last_message_automatic: bool = False


class MessageExtras(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a message carries besides text and attachments (all optional)."""

    quick_reply: str | None = None
    story_url: str | None = None
    story_id: str | None = None
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    referral: str | None = None
    forwarded: bool = False
    unsupported: str | None = None
    #: The platform whose own app can show what this app cannot (with ``unsupported``).
    open_in: str | None = None
    postback_payload: str | None = None
    postback_source: str | None = None
    app_id: str | None = None
    #: What the business's own send attached, returned with this reply (Viber
    #: ``tracking_data``): which menu or step the customer answers.
    callback_data: str | None = None


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One message, inbound or outbound; ``error_*`` explain a failed send in plain words.

    ``attempts`` counts send tries that could not reach the platform; ``last_error_*``
    (while still queued) say why the last try did not go out.
    """

    id: int
    conversation_id: int
    direction: Direction
    author: Author
    kind: MessageKind
    platform_id: str | None
    text: str | None
    attachments: tuple[Attachment, ...]
    extras: MessageExtras
    status: MessageStatus
    error_code: str | None
    error_message: str | None
    send_id: str | None
    idempotency_key: str | None
    automatic: bool
    device_id: str | None
    tag: str | None
    reply_to: str | None
    in_reply_to_id: int | None
    draft_id: int | None
    reaction: str | None
    deleted: bool
    edited_at_ms: int | None
    attempts: int
    next_attempt_ms: int | None
    timestamp_ms: int
    created_at_ms: int
    updated_at_ms: int


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A reply the assistant proposed, with its grounds, state and cost."""

    id: int
    conversation_id: int
    for_message_id: int | None
    text: str
    language: str | None
    cited_chunk_ids: tuple[str, ...]
    confidence: float | None
    grounded: bool
    handoff: bool
    handoff_reason: str | None
    hold_reason: str | None
    state: DraftState
    drafter: str
    model: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    message_id: int | None
    created_at_ms: int
    updated_at_ms: int
    #: Why a pending draft was taken back (state ``superseded``): the owner answered by
    #: hand, the customer wrote again, or the same text already went out.
    withdrawn_reason: str | None = None


class NewDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A draft to store; a new pending draft supersedes the conversation's older ones."""

    conversation_id: int
    text: str
    drafter: str
    for_message_id: int | None = None
    language: str | None = None
    cited_chunk_ids: tuple[str, ...] = ()
    confidence: float | None = None
    grounded: bool = False
    handoff: bool = False
    handoff_reason: str | None = None
    #: Why the assistant did not send it itself (manual mode, low confidence, ...).
    hold_reason: str | None = None
    #: Shadow mode: kept only to compare with the owner's reply, never in the queue.
    shadow: bool = False
    model: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class UsageNotice(msgspec.Struct, frozen=True, kw_only=True):
    """The relay's latest warning about one usage metric nearing its limit."""

    metric: str
    used: float
    limit: float
    share: float
    resets_on: str
    timestamp_ms: int


class ConversationQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for the conversation list; every field narrows, None means any.

    ``text`` matches words (prefixes) of message texts, or part of the customer's name or
    phone. ``order``: ``recent`` (newest activity first) or ``window`` (the window that
    closes soonest first; conversations without an open window last).
    """

    channel_id: str | None = None
    platform: Platform | None = None
    statuses: tuple[ConversationStatus, ...] = ()
    text: str | None = None
    label: str | None = None
    unread_only: bool = False
    pending_draft_only: bool = False
    order: Literal["recent", "window"] = "recent"
    limit: int | None = None
    offset: int = 0


class SkippedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A stream event this version could not read: recorded (with ``error``) and skipped."""

    seq: int
    id: str
    error: str


class OutboxItem(msgspec.Struct, frozen=True, kw_only=True):
    """A queued outbound message with what the relay needs to send it."""

    message: Message
    channel_id: str
    platform: Platform
    recipient_id: str
    #: The platform id of the inbound message this answers (for at-most-one auto reply).
    in_reply_to: str | None


class ShadowScore(msgspec.Struct, frozen=True, kw_only=True):
    """Shadow mode's record for one channel (and topic): how often the assistant agreed."""

    channel_id: str
    topic: str | None
    compared: int
    agreed: int


class AssistantStats(msgspec.Struct, frozen=True, kw_only=True):
    """How the assistant is doing, for the usage and results screen."""

    conversations: int
    #: Conversations the assistant answered on its own: an automatic reply, no reply by a
    #: person, no hand-off.
    answered_by_assistant: int
    #: Conversations where the assistant asked for a person.
    handed_off: int
    #: Replies the assistant sent on its own (hand-off messages not counted).
    auto_replies: int = 0
    #: Median seconds from a conversation's first message to its first reply.
    median_first_response_s: float | None
    shadow: tuple[ShadowScore, ...] = ()
    #: The stream: newest event the relay reported, and the newest one stored here.
    relay_head: int = 0
    stored_cursor: int = 0
