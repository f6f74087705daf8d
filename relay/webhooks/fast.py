"""The fast path for the commonest Meta webhooks: typed msgspec decoding straight to events.

Most traffic is one of three shapes: a Messenger/Instagram text message, a WhatsApp text
message, and a WhatsApp delivery status. Each is declared here exactly, with
``forbid_unknown_fields``, so any body with one field more, one missing, or one of
another type fails to decode and goes to the general parser (:mod:`relay.webhooks.meta`),
which reads every variant defensively. The result is the same events the general parser
makes (a test checks it on every fixture), built without an intermediate dict tree.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from common.events import ConversationWindow, Customer, Event, MessageReceived, Pricing, Status
from relay.webhooks.parsing import ChannelResolver, ParseResult, as_ms

__all__ = ["fast_meta"]

_Id = Annotated[str, msgspec.Meta(min_length=1)]
_Text = Annotated[str, msgspec.Meta(min_length=1)]
# Milliseconds: smaller numbers are seconds, which the general parser scales.
_Ms = Annotated[int, msgspec.Meta(ge=100_000_000_000)]


class _Exact(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _Party(_Exact):
    id: _Id


class _TextMessage(_Exact):
    mid: _Id
    text: _Text


class _MessagingItem(_Exact):
    sender: _Party
    recipient: _Party
    timestamp: _Ms
    message: _TextMessage


class _MessagingEntry(_Exact):
    id: _Id
    time: _Ms
    messaging: list[_MessagingItem]


class _Body(_Exact, tag_field="object"):
    pass


class _PageBody(_Body, tag="page"):
    entry: list[_MessagingEntry]


class _InstagramBody(_Body, tag="instagram"):
    entry: list[_MessagingEntry]


class _Metadata(_Exact):
    display_phone_number: str
    phone_number_id: _Id


class _Profile(_Exact):
    name: _Text


class _Contact(_Exact):
    profile: _Profile
    wa_id: _Id


class _WaText(_Exact):
    body: _Text


class _WaMessage(_Exact, rename={"sender": "from"}):
    sender: _Id
    id: _Id
    timestamp: _Id
    type: Literal["text"]
    text: _WaText


class _Origin(_Exact):
    type: _Text


class _Conversation(_Exact):
    id: _Id
    origin: _Origin
    expiration_timestamp: _Id | None = None


class _WaPricing(_Exact):
    billable: bool
    pricing_model: _Text
    category: _Text
    type: _Text | None = None


class _WaStatus(_Exact):
    id: _Id
    status: Literal["sent", "delivered", "read"]
    timestamp: _Id
    recipient_id: _Id
    conversation: _Conversation | None = None
    pricing: _WaPricing | None = None
    biz_opaque_callback_data: _Text | None = None


class _WaValue(_Exact):
    messaging_product: Literal["whatsapp"]
    metadata: _Metadata
    contacts: list[_Contact] = []
    messages: list[_WaMessage] = []
    statuses: list[_WaStatus] = []


class _WaChange(_Exact):
    value: _WaValue
    field: Literal["messages"]


class _WaEntry(_Exact):
    id: str
    changes: list[_WaChange]


class _WaBody(_Body, tag="whatsapp_business_account"):
    entry: list[_WaEntry]


_DECODER: Final = msgspec.json.Decoder(_PageBody | _InstagramBody | _WaBody)


def fast_meta(body: bytes, resolve: ChannelResolver) -> ParseResult | None:
    """The events of a body of the common shapes, or None: then the general parser reads it."""
    try:
        root = _DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(root, _PageBody):
        return _messaging(root.entry, "messenger", resolve)
    if isinstance(root, _InstagramBody):
        return _messaging(root.entry, "instagram", resolve)
    return _whatsapp(root, resolve)


def _messaging(
    entries: list[_MessagingEntry],
    platform: Literal["messenger", "instagram"],
    resolve: ChannelResolver,
) -> ParseResult | None:
    events: list[Event] = []
    for entry in entries:
        channel_id = resolve(platform, entry.id)
        if channel_id is None or not entry.messaging:
            return None
        for item in entry.messaging:
            events.append(
                MessageReceived(
                    channel_id=channel_id,
                    platform=platform,
                    customer=Customer(id=item.sender.id),
                    timestamp_ms=item.timestamp,
                    platform_id=item.message.mid,
                    text=item.message.text,
                )
            )
    return ParseResult(events=events, ignored=[])


def _whatsapp(root: _WaBody, resolve: ChannelResolver) -> ParseResult | None:
    events: list[Event] = []
    for entry in root.entry:
        if not entry.changes:
            return None
        for change in entry.changes:
            value = change.value
            channel_id = resolve("whatsapp", value.metadata.phone_number_id)
            # Both lists in one value: body order matters, the general parser keeps it.
            if channel_id is None or bool(value.messages) == bool(value.statuses):
                return None
            names: dict[str, str] = {}
            for contact in value.contacts:
                names.setdefault(contact.wa_id, contact.profile.name)
            for message in value.messages:
                timestamp_ms = as_ms(message.timestamp)
                if not timestamp_ms:
                    return None
                events.append(
                    MessageReceived(
                        channel_id=channel_id,
                        platform="whatsapp",
                        customer=Customer(
                            id=message.sender,
                            name=names.get(message.sender),
                            phone=message.sender,
                        ),
                        timestamp_ms=timestamp_ms,
                        platform_id=message.id,
                        text=message.text.body,
                    )
                )
            for status in value.statuses:
                timestamp_ms = as_ms(status.timestamp)
                if not timestamp_ms:
                    return None
                pricing = status.pricing
                window = status.conversation
                events.append(
                    Status(
                        channel_id=channel_id,
                        platform="whatsapp",
                        customer=Customer(
                            id=status.recipient_id,
                            name=names.get(status.recipient_id),
                            phone=status.recipient_id,
                        ),
                        timestamp_ms=timestamp_ms,
                        platform_id=f"{status.id}:{status.status}",
                        status=status.status,
                        message_ids=(status.id,),
                        pricing=None
                        if pricing is None
                        else Pricing(
                            billable=pricing.billable,
                            model=pricing.pricing_model,
                            category=pricing.category,
                            type=pricing.type,
                        ),
                        conversation=None
                        if window is None
                        else ConversationWindow(
                            id=window.id,
                            origin=window.origin.type,
                            expires_ms=as_ms(window.expiration_timestamp),
                        ),
                        callback_data=status.biz_opaque_callback_data,
                    )
                )
    return ParseResult(events=events, ignored=[])
