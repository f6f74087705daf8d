"""Viber bot callbacks turned into typed events.

A callback is one event. ``message_token`` is a 64-bit integer that JavaScript-style
float parsing would corrupt; msgspec decodes it as an exact ``int`` and it is only
ever turned into a string. Receipts name the business's own message by token, so
their ``platform_id`` adds the status (``"<token>:read"``) to stay distinct per kind
of receipt. Picture messages become ``image`` attachments (the name the other
platforms use); the text of a media message is its caption. A missing timestamp falls
back to the time of receipt. A message's ``tracking_data`` (what the bot's own send carried)
comes back as ``callback_data``. The channel is known (it is in the webhook's address), so
every callback but the ``webhook`` check makes an event: ``Unsupported`` for a message we
cannot show, a ``ChannelAlert`` for a callback that names no user or no message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final, Literal

from common.events import (
    Attachment,
    ChannelAlert,
    Customer,
    Event,
    Location,
    MessageReceived,
    PlatformError,
    SharedContact,
    Status,
    Subscription,
)
from relay.webhooks.parsing import (
    ChannelResolver,
    Head,
    Ignored,
    ParseResult,
    PayloadError,
    as_float,
    as_id,
    as_obj,
    as_str,
    as_time,
    decode_object,
    label,
    unsupported,
)

__all__ = ["ChannelResolver", "ParseResult", "PayloadError", "parse_viber"]

_RECEIPTS: Final[Mapping[str, Literal["delivered", "read", "failed"]]] = {
    "delivered": "delivered",
    "seen": "read",
    "failed": "failed",
}
_SUBSCRIPTIONS: Final[
    Mapping[str, Literal["conversation_started", "subscribed", "unsubscribed"]]
] = {
    "conversation_started": "conversation_started",
    "subscribed": "subscribed",
    "unsubscribed": "unsubscribed",
}
# Viber media type -> our attachment type.
_MEDIA: Final[Mapping[str, str]] = {
    "picture": "image",
    "video": "video",
    "file": "file",
    "sticker": "sticker",
    "url": "url",
}


def parse_viber(body: bytes, channel_id: str, received_ms: int | None = None) -> ParseResult:
    """Normalise one verified Viber callback; raises only :class:`PayloadError`."""
    root = decode_object(body)
    event = root.get("event")
    if not isinstance(event, str):
        raise PayloadError("Viber callback has no 'event' string")
    if event == "webhook":
        return ParseResult(events=[], ignored=[Ignored("viber", "webhook check")])
    now = time.time_ns() // 1_000_000 if received_ms is None else received_ms
    timestamp_ms = as_time(root.get("timestamp")) or now
    return ParseResult(events=[_callback(root, event, channel_id, timestamp_ms)], ignored=[])


def _token(value: object) -> str | None:
    """The message token as decimal text; a float (precision already lost) is refused."""
    token = as_id(value)
    return token if token is None or token.isdigit() else None


def _alert(
    channel_id: str, timestamp_ms: int, event: str, reason: str, token: str | None
) -> ChannelAlert:
    return ChannelAlert(
        channel_id=channel_id,
        platform="viber",
        timestamp_ms=timestamp_ms,
        raw_type=label(event),
        reason=reason,
        platform_id=f"{token}:{label(event)}" if token else None,
    )


def _callback(root: Mapping[str, Any], event: str, channel_id: str, timestamp_ms: int) -> Event:
    token = _token(root.get("message_token"))
    if event == "message":
        return _message(root, channel_id, timestamp_ms, token)
    receipt = _RECEIPTS.get(event)
    if receipt is not None:
        user_id = as_id(root.get("user_id"))
        if user_id is None:
            return _alert(channel_id, timestamp_ms, event, "receipt without user", token)
        if token is None:
            return _alert(channel_id, timestamp_ms, event, "receipt without token", None)
        return Status(
            channel_id=channel_id,
            platform="viber",
            customer=Customer(id=user_id),
            timestamp_ms=timestamp_ms,
            platform_id=f"{token}:{receipt}",
            status=receipt,
            message_ids=(token,),
            errors=(
                (PlatformError(code=0, detail=as_str(root.get("desc"))),)
                if receipt == "failed"
                else ()
            ),
        )
    customer = _customer(root.get("user")) or (
        Customer(id=user_id) if (user_id := as_id(root.get("user_id"))) is not None else None
    )
    action = _SUBSCRIPTIONS.get(event)
    if customer is None:
        reason = "callback without user" if action else "unknown callback"
        return _alert(channel_id, timestamp_ms, event, reason, token)
    head = Head(
        channel_id=channel_id, platform="viber", customer=customer, timestamp_ms=timestamp_ms
    )
    if action is None:
        # An event Viber does not document (e.g. client_status) about a user.
        return unsupported(
            head,
            label(event),
            "unknown callback",
            **({"platform_id": f"{token}:{label(event)}"} if token else {}),
        )
    subscribed = root.get("subscribed")
    return Subscription(
        **head,
        # The action is part of the id: a subscribe and an unsubscribe are two facts.
        platform_id=f"{token}:{action}" if token else f"{event}:{customer.id}:{timestamp_ms}",
        action=action,
        context=as_str(root.get("context")),
        subscribed=subscribed if isinstance(subscribed, bool) else None,
    )


def _customer(value: object) -> Customer | None:
    user = as_obj(value)
    user_id = as_id(user.get("id"))
    if user_id is None:
        return None
    return Customer(
        id=user_id, name=as_str(user.get("name")), avatar_url=as_str(user.get("avatar"))
    )


def _message(
    root: Mapping[str, Any], channel_id: str, timestamp_ms: int, token: str | None
) -> Event:
    customer = _customer(root.get("sender"))
    if customer is None:
        return _alert(channel_id, timestamp_ms, "message", "message without sender", token)
    head = Head(
        channel_id=channel_id, platform="viber", customer=customer, timestamp_ms=timestamp_ms
    )
    platform_id = token or f"message:{customer.id}:{timestamp_ms}"
    message = as_obj(root.get("message"))
    kind = message.get("type")
    text = as_str(message.get("text"))
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    if kind == "text":
        pass
    elif isinstance(kind, str) and kind in _MEDIA:
        attachments = (
            Attachment(
                type=_MEDIA[kind],
                url=as_str(message.get("media")),
                media_id=as_id(message.get("sticker_id")),
                caption=text,
                filename=as_str(message.get("file_name")),
            ),
        )
        text = None
    elif kind == "location":
        place = as_obj(message.get("location"))
        latitude, longitude = as_float(place.get("lat")), as_float(place.get("lon"))
        if latitude is None or longitude is None:
            reason = "location without coordinates"
            return unsupported(head, "location", reason, platform_id=platform_id)
        location = Location(
            latitude=latitude, longitude=longitude, address=as_str(place.get("address"))
        )
    elif kind == "contact":
        card = as_obj(message.get("contact"))
        phone = as_str(card.get("phone_number"))
        contacts = (
            SharedContact(
                name=as_str(card.get("name")) or phone or "", phones=(phone,) if phone else ()
            ),
        )
    else:
        # rich_media (a carousel of buttons) and anything newer.
        return unsupported(
            head, label(kind), "unknown message type", platform_id=platform_id, text=text
        )
    return MessageReceived(
        **head,
        platform_id=platform_id,
        text=text,
        attachments=attachments,
        location=location,
        contacts=contacts,
        # What our send attached (``tracking_data``), returned with the reply to it.
        callback_data=as_str(message.get("tracking_data")),
    )
