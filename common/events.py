"""Typed events: what the relay makes of every webhook item and of its own actions.

Every event the relay stores and streams is one of the structs in :data:`Event`, encoded
as JSON with a ``kind`` tag. Platform events name the customer they concern; system
events (channel changes, erasure, usage warnings) concern the business as a whole.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from common.channels import ChannelStatus, Platform

__all__ = [
    "EVENT_DECODER",
    "Attachment",
    "ChannelAlert",
    "ChannelChanged",
    "ConversationWindow",
    "Customer",
    "CustomerChanged",
    "CustomerErased",
    "Event",
    "Handover",
    "Location",
    "MessageDeleted",
    "MessageEcho",
    "MessageEdited",
    "MessageReceived",
    "MessageSent",
    "OptIn",
    "PlatformError",
    "PlatformEvent",
    "Postback",
    "Pricing",
    "Reaction",
    "SendFailed",
    "SharedContact",
    "Status",
    "Subscription",
    "Unsupported",
    "UsageWarning",
    "encode_event",
    "kind_of",
]


class Customer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who the event is about, as the platform identifies them.

    ``id`` is the platform's id for the person (PSID, IGSID, WhatsApp BSUID or wa_id,
    Viber user id, web-chat visitor id); ``phone`` only where the platform gives one.
    """

    id: str
    name: str | None = None
    phone: str | None = None
    avatar_url: str | None = None


class Attachment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A file, image, sticker, shared post... ``url`` may expire (Meta CDN links do)."""

    type: str
    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None


class Location(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class SharedContact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A contact card the customer shared (WhatsApp, Viber)."""

    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


class PlatformError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An error a platform reported (e.g. WhatsApp 131047 on a status, 131051 on a message)."""

    code: int
    title: str | None = None
    detail: str | None = None


class Pricing(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a WhatsApp status says the message costs (``pricing`` of a status)."""

    billable: bool | None = None
    model: str | None = None
    category: str | None = None
    type: str | None = None


class ConversationWindow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The WhatsApp conversation a status counts in: its id, how it was opened (``origin``:
    ``service``, ``utility``, ``marketing``, ``free_entry_point``...) and when it closes."""

    id: str
    origin: str | None = None
    expires_ms: int | None = None


class PlatformEvent(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"
):
    """Fields every customer-facing event has.

    ``platform_id`` is the platform's own id for the item (mid, wamid, Viber
    message_token as a string); the relay drops a second event with the same
    (channel, kind, platform_id).
    """

    channel_id: str
    platform: Platform
    customer: Customer
    timestamp_ms: int
    platform_id: str | None = None


class MessageReceived(PlatformEvent, frozen=True, tag="message"):
    """The customer wrote to the business."""

    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    quick_reply: str | None = None
    reply_to: str | None = None
    story_url: str | None = None
    story_id: str | None = None
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    referral: str | None = None
    forwarded: bool = False
    callback_data: str | None = None
    """What the business attached to the message it answers (Viber ``tracking_data``)."""


class Postback(PlatformEvent, frozen=True, tag="postback"):
    """A button press: Messenger postback, WhatsApp interactive or template button reply."""

    payload: str
    title: str | None = None
    source: Literal["postback", "button", "list", "template_button"] = "postback"
    referral: str | None = None
    reply_to: str | None = None
    """The message whose button this answers (WhatsApp ``context.id``)."""


class Reaction(PlatformEvent, frozen=True, tag="reaction"):
    """The customer reacted to (or withdrew a reaction from) a message."""

    message_id: str
    emoji: str | None = None
    action: Literal["react", "unreact"] = "react"


class MessageEcho(PlatformEvent, frozen=True, tag="echo"):
    """A message the business sent from elsewhere (platform inbox, phone app).

    ``customer`` is the recipient. ``app_id`` tells our own sends from others.
    """

    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    app_id: str | None = None
    metadata: str | None = None


class MessageDeleted(PlatformEvent, frozen=True, tag="message_deleted"):
    """The customer unsent a message (Instagram ``is_deleted``, WhatsApp ``revoke``)."""

    message_id: str


class MessageEdited(PlatformEvent, frozen=True, tag="message_edited"):
    """The customer edited a message; the new text (or caption) and media replace the old."""

    message_id: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()


class Unsupported(PlatformEvent, frozen=True, tag="unsupported"):
    """Something the customer sent or did that the relay cannot fully show.

    The owner sees that it arrived and opens it in the platform's own app. ``raw_type``
    is the platform's name for it, ``reason`` a short fixed phrase (also a metrics label),
    ``text`` whatever words could be read, ``errors`` what the platform said about it.
    """

    raw_type: str
    reason: str
    text: str | None = None
    reply_to: str | None = None
    errors: tuple[PlatformError, ...] = ()


class CustomerChanged(PlatformEvent, frozen=True, tag="customer_changed"):
    """The customer's platform id changed (WhatsApp: a new number or a new BSUID).

    ``customer`` is who they were; ``new_id`` is the key to use from now on, so the
    conversation carries on under it.
    """

    new_id: str
    change: str
    new_phone: str | None = None
    detail: str | None = None


class Status(PlatformEvent, frozen=True, tag="status"):
    """Delivery, read and failure receipts for messages the business sent.

    ``message_ids`` names the messages; ``watermark_ms`` (Messenger) means every
    message up to that time.
    """

    status: Literal["sent", "delivered", "read", "played", "failed"]
    message_ids: tuple[str, ...] = ()
    watermark_ms: int | None = None
    errors: tuple[PlatformError, ...] = ()
    pricing: Pricing | None = None
    conversation: ConversationWindow | None = None
    callback_data: str | None = None
    """What the business attached to the send (WhatsApp ``biz_opaque_callback_data``)."""


class Subscription(PlatformEvent, frozen=True, tag="subscription"):
    """The customer opened the chat (Viber; WhatsApp request_welcome) or (un)subscribed."""

    action: Literal["conversation_started", "subscribed", "unsubscribed"]
    context: str | None = None
    subscribed: bool | None = None


class OptIn(PlatformEvent, frozen=True, tag="opt_in"):
    """The customer agreed to (``opt_in``) or stopped (``opt_out``) messages the business
    may send outside the messaging window.

    ``topic``: ``marketing_messages`` (Messenger notification messages, WhatsApp marketing
    preferences), ``one_time_notification``, or the platform's own name. ``token`` is what
    Messenger's Send API takes in place of the customer's id for such a message; it is
    good until ``token_expires_ms``.
    """

    action: Literal["opt_in", "opt_out"]
    topic: str
    title: str | None = None
    payload: str | None = None
    frequency: str | None = None
    token: str | None = None
    token_expires_ms: int | None = None
    detail: str | None = None


class Handover(PlatformEvent, frozen=True, tag="handover"):
    """Control of the conversation moved between the Page's apps (Messenger handover).

    ``action``: ``pass`` (an app passed it), ``take`` (an app took it) or ``request`` (an
    app asks for it). While another app holds the thread its messages arrive as standby.
    """

    action: Literal["pass", "take", "request"]
    from_app: str | None = None
    to_app: str | None = None
    metadata: str | None = None


class MessageSent(PlatformEvent, frozen=True, tag="message_sent"):
    """The relay sent a reply; every device of the business sees it.

    ``idempotency_key`` is the key of the ``SendReply`` that caused it: the device that
    asked settles its own reply by that key, whichever of the relay's answer, this event
    and the platform's echo comes first. (None only in events older than the key.)
    ``sent_by`` is "server" when the relay answered on its own (the away reply while
    no device was connected); absent for a device's reply.
    """

    text: str
    send_id: str
    idempotency_key: str | None = None
    automatic: bool = False
    reply_to: str | None = None
    tag: str | None = None
    device_id: str | None = None
    sent_by: Literal["server"] | None = None


class SendFailed(PlatformEvent, frozen=True, tag="send_failed"):
    """A reply could not be sent, for good; ``error`` is a SendErrorCode.

    ``idempotency_key``: as in :class:`MessageSent`.
    """

    send_id: str
    error: str
    message: str
    idempotency_key: str | None = None
    device_id: str | None = None


class SystemEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    timestamp_ms: int


class ChannelChanged(SystemEvent, frozen=True, tag="channel"):
    """A channel was connected, disconnected, or changed health."""

    channel_id: str
    platform: Platform
    status: ChannelStatus
    name: str | None = None
    detail: str | None = None


class ChannelAlert(SystemEvent, frozen=True, tag="channel_alert"):
    """The platform said something about the channel itself, not one conversation.

    WhatsApp ``errors`` of a change value (e.g. 130429 throughput), account-level fields
    (template status, quality rating, account alerts and updates, security), Messenger app
    roles, or an item of a known account that names no customer. ``reason`` is a short
    fixed phrase (a metrics label), ``detail`` the platform's own words, ``level`` how
    much it asks of the owner. ``platform_id`` dedupes Meta's retries.
    """

    channel_id: str
    platform: Platform
    raw_type: str
    reason: str
    errors: tuple[PlatformError, ...] = ()
    platform_id: str | None = None
    level: Literal["info", "warning", "problem"] = "warning"
    detail: str | None = None


class CustomerErased(SystemEvent, frozen=True, tag="customer_erased"):
    """Erase this customer's data everywhere; ``request_id`` ties it to the receipt.

    The relay keeps no trace of whom it erased, so it sends ``customer_id`` empty and
    ``customer_hash`` = hex SHA-256 of ``f"{channel_id}:{customer_id}"``: a device
    matches its own customers by that hash.
    """

    channel_id: str
    customer_id: str
    request_id: str
    customer_hash: str = ""


class UsageWarning(SystemEvent, frozen=True, tag="usage_warning"):
    metric: str
    used: float
    limit: float
    share: float
    resets_on: str


Event = (
    MessageReceived
    | Postback
    | Reaction
    | MessageEcho
    | MessageDeleted
    | MessageEdited
    | Status
    | Subscription
    | Unsupported
    | CustomerChanged
    | OptIn
    | Handover
    | MessageSent
    | SendFailed
    | ChannelChanged
    | ChannelAlert
    | CustomerErased
    | UsageWarning
)

EVENT_DECODER: Final = msgspec.json.Decoder(Event)
_ENCODER: Final = msgspec.json.Encoder()


def encode_event(event: PlatformEvent | SystemEvent) -> bytes:
    return _ENCODER.encode(event)


def kind_of(event: PlatformEvent | SystemEvent) -> str:
    """The event's ``kind`` tag as it travels (``message``, ``message_sent``...)."""
    tag = type(event).__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{type(event).__name__} is not a tagged event")
    return tag
