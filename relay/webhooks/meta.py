"""Meta webhook bodies (Messenger, Instagram, WhatsApp Cloud) turned into typed events.

Every item either becomes one event or adds one reason to ``ignored``, so
``len(events) + len(ignored)`` counts what the body held. Decisions the platform
documents leave open:

* Items under ``standby`` (threads another app controls) become the same events as
  ``messaging`` items; the events carry no mark of it.
* A Messenger/Instagram item that is only a ``referral`` (m.me link, ad click on an
  existing thread) becomes a ``MessageReceived`` with ``referral`` set and no text:
  the customer did act, and a desktop can tell it from a real message.
* Receipts without a message id get a ``platform_id`` built from the customer and the
  watermark, so Meta's retries dedupe and two customers never collide.
* Timestamps under 1e11 are seconds (WhatsApp, Meta's string form) and are scaled to ms.
* WhatsApp customers are keyed on the BSUID (``user_id``) when the payload has one,
  else on ``wa_id``; statuses follow the same rule so receipts meet their messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from common.events import (
    Attachment,
    Customer,
    Event,
    Location,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    PlatformError,
    Postback,
    Reaction,
    SharedContact,
    Status,
)
from relay.webhooks.parsing import (
    EMPTY,
    ChannelResolver,
    Head,
    ParseResult,
    PayloadError,
    as_float,
    as_id,
    as_int,
    as_list,
    as_ms,
    as_obj,
    as_str,
    decode_object,
    label,
)

__all__ = ["ChannelResolver", "ParseResult", "PayloadError", "parse_meta"]

MessagingPlatform = Literal["messenger", "instagram"]
StatusName = Literal["sent", "delivered", "read", "played", "failed"]

_MESSAGING_LISTS: Final = frozenset({"messaging", "standby"})
_ITEM_FRAME: Final = frozenset({"sender", "recipient", "timestamp"})
# Meta's reaction names, for payloads that give a name but no emoji.
_REACTION_EMOJI: Final[Mapping[str, str]] = {
    "smile": "😆",
    "angry": "😠",
    "sad": "😢",
    "wow": "😮",
    "love": "❤️",
    "like": "👍",
    "dislike": "👎",
}
_WA_MEDIA: Final = frozenset({"image", "video", "audio", "sticker", "document"})
_WA_STATUSES: Final[Mapping[str, StatusName]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "failed": "failed",
}
_WA_ITEM_LISTS: Final = frozenset({"messages", "statuses", "message_echoes"})


def parse_meta(body: bytes, resolve: ChannelResolver) -> ParseResult:
    """Normalise one verified Meta webhook body; raises only :class:`PayloadError`."""
    root = decode_object(body)
    kind = root.get("object")
    entries = root.get("entry")
    if not isinstance(kind, str) or not isinstance(entries, list):
        raise PayloadError("Meta body has no 'object' string or no 'entry' list")
    result = ParseResult(events=[], ignored=[])
    if kind == "page":
        _messaging_entries(entries, "messenger", resolve, result)
    elif kind == "instagram":
        _messaging_entries(entries, "instagram", resolve, result)
    elif kind == "whatsapp_business_account":
        _whatsapp_entries(entries, resolve, result)
    else:
        result.ignored.append(f"meta: object {label(kind)}")
    return result


def _add(result: ParseResult, outcome: Event | str) -> None:
    if isinstance(outcome, str):
        result.ignored.append(outcome)
    else:
        result.events.append(outcome)


# --- Messenger and Instagram -----------------------------------------------------------


def _messaging_entries(
    entries: list[Any], platform: MessagingPlatform, resolve: ChannelResolver, result: ParseResult
) -> None:
    owner = "page" if platform == "messenger" else "account"
    for entry in entries:
        if not isinstance(entry, dict):
            result.ignored.append(f"{platform}: entry is not an object")
            continue
        account = as_id(entry.get("id"))
        channel_id = resolve(platform, account) if account is not None else None
        unrouted = (
            f"{platform}: unknown {owner} {label(account)}"
            if account is not None
            else f"{platform}: entry without id"
        )
        fallback_ms = as_ms(entry.get("time"))
        seen = 0
        # Walk the entry's keys in body order so events keep the order Meta sent them in.
        for key, value in entry.items():
            if key in _MESSAGING_LISTS:
                changes = False
            elif key == "changes":
                changes = True
            else:
                continue
            for raw in as_list(value):
                seen += 1
                item: object = raw
                if changes:
                    # The newer {"field", "value"} form; other fields (feed, comments) are
                    # not conversations.
                    change = as_obj(raw)
                    item = change.get("value")
                    if not isinstance(item, dict) or not ("sender" in item or "recipient" in item):
                        result.ignored.append(f"{platform}: field {label(change.get('field'))}")
                        continue
                if channel_id is None:
                    result.ignored.append(unrouted)
                    continue
                _add(result, _messaging_item(item, platform, channel_id, fallback_ms))
        if not seen:
            result.ignored.append(f"{platform}: entry without items")


def _messaging_item(
    item: object, platform: MessagingPlatform, channel_id: str, fallback_ms: int | None
) -> Event | str:
    if not isinstance(item, dict):
        return f"{platform}: item is not an object"
    timestamp_ms = as_ms(item.get("timestamp"))
    if timestamp_ms is None:
        timestamp_ms = fallback_ms
    if timestamp_ms is None:
        return f"{platform}: item without timestamp"
    message = item.get("message")
    echo = isinstance(message, dict) and message.get("is_echo") is True
    # An echo is the business writing: the customer is its recipient.
    person = _party(item.get("recipient" if echo else "sender"))
    if person is None:
        return f"{platform}: item without {'recipient' if echo else 'sender'}"
    head = Head(
        channel_id=channel_id,
        platform=platform,
        customer=Customer(id=person),
        timestamp_ms=timestamp_ms,
    )
    if isinstance(message, dict):
        return _echo(message, head) if echo else _message(message, head)
    if "message_edit" in item:
        return _edit(as_obj(item["message_edit"]), head)
    if "postback" in item:
        return _postback(as_obj(item["postback"]), head)
    if "reaction" in item:
        return _reaction(as_obj(item["reaction"]), head)
    if "delivery" in item:
        return _delivery(as_obj(item["delivery"]), head)
    if "read" in item:
        return _read(as_obj(item["read"]), head)
    if "referral" in item:
        referral = _referral(item["referral"])
        if referral is None:
            return f"{platform}: referral without ref"
        return MessageReceived(
            **head, platform_id=f"referral:{person}:{timestamp_ms}", referral=referral
        )
    what = next((key for key in item if key not in _ITEM_FRAME), None)
    return f"{platform}: {label(what)}" if what else f"{platform}: empty item"


def _party(value: object) -> str | None:
    party = as_obj(value)
    return as_id(party.get("id")) or as_id(party.get("user_ref"))


def _fallback_id(kind: str, head: Head) -> str:
    """A stable id for an item that has none of its own, so Meta's retries still dedupe."""
    return f"{kind}:{head['customer'].id}:{head['timestamp_ms']}"


def _message(message: Mapping[str, Any], head: Head) -> Event | str:
    mid = as_id(message.get("mid"))
    if message.get("is_deleted") is True:
        if mid is None:
            return f"{head['platform']}: deletion without mid"
        return MessageDeleted(**head, platform_id=mid, message_id=mid)
    if message.get("is_self") is True:
        return f"{head['platform']}: message to self"
    reply_to = as_obj(message.get("reply_to"))
    story = as_obj(reply_to.get("story"))
    return MessageReceived(
        **head,
        platform_id=mid or _fallback_id("message", head),
        text=as_str(message.get("text")),
        attachments=_attachments(message.get("attachments")),
        quick_reply=as_str(as_obj(message.get("quick_reply")).get("payload")),
        reply_to=as_id(reply_to.get("mid")),
        story_url=as_str(story.get("url")),
        story_id=as_id(story.get("id")),
        referral=_referral(message.get("referral")),
        unsupported="unsupported" if message.get("is_unsupported") is True else None,
    )


def _echo(message: Mapping[str, Any], head: Head) -> MessageEcho:
    return MessageEcho(
        **head,
        platform_id=as_id(message.get("mid")) or _fallback_id("echo", head),
        text=as_str(message.get("text")),
        attachments=_attachments(message.get("attachments")),
        app_id=as_id(message.get("app_id")),
        metadata=as_str(message.get("metadata")),
    )


def _attachments(value: object) -> tuple[Attachment, ...]:
    raw = as_list(value)
    if not raw:
        return ()
    found: list[Attachment] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        payload = as_obj(item.get("payload"))
        found.append(
            Attachment(
                type=as_str(item.get("type")) or "unknown",
                # URL shares ("fallback") put url/title beside the payload, not in it.
                url=as_str(payload.get("url")) or as_str(item.get("url")),
                caption=as_str(payload.get("title")) or as_str(item.get("title")),
            )
        )
    # Until Aug 2026 Meta sends a sticker twice, as "sticker" and as "image": keep one.
    stickers = {a.url for a in found if a.type == "sticker" and a.url}
    if stickers:
        found = [a for a in found if not (a.type == "image" and a.url in stickers)]
    return tuple(found)


def _referral(value: object) -> str | None:
    referral = as_obj(value)
    if not referral:
        return None
    return (
        as_str(referral.get("ref"))
        or as_str(as_obj(referral.get("ads_context_data")).get("ad_title"))
        or as_str(referral.get("source"))
    )


def _edit(edit: Mapping[str, Any], head: Head) -> Event | str:
    mid = as_id(edit.get("mid"))
    if mid is None:
        return f"{head['platform']}: edit without mid"
    number = as_int(edit.get("num_edit"))
    serial = head["timestamp_ms"] if number is None else number
    return MessageEdited(
        **head, platform_id=f"{mid}:edit:{serial}", message_id=mid, text=as_str(edit.get("text"))
    )


def _postback(postback: Mapping[str, Any], head: Head) -> Postback:
    return Postback(
        **head,
        platform_id=as_id(postback.get("mid")) or _fallback_id("postback", head),
        # Standby postbacks come without a payload.
        payload=as_str(postback.get("payload")) or "",
        title=as_str(postback.get("title")),
        source="postback",
        referral=_referral(postback.get("referral")),
    )


def _reaction(reaction: Mapping[str, Any], head: Head) -> Event | str:
    mid = as_id(reaction.get("mid"))
    if mid is None:
        return f"{head['platform']}: reaction without mid"
    if reaction.get("action") == "unreact":
        action: Literal["react", "unreact"] = "unreact"
        emoji = None
    else:
        action = "react"
        name = reaction.get("reaction")
        emoji = as_str(reaction.get("emoji")) or (
            _REACTION_EMOJI.get(name) if isinstance(name, str) else None
        )
    return Reaction(
        **head,
        platform_id=f"{mid}:{action}:{head['timestamp_ms']}",
        message_id=mid,
        emoji=emoji,
        action=action,
    )


def _delivery(delivery: Mapping[str, Any], head: Head) -> Event | str:
    mids = tuple(mid for mid in map(as_id, as_list(delivery.get("mids"))) if mid)
    watermark = as_ms(delivery.get("watermark"))
    if watermark is not None:
        # The customer is part of the key: two threads can share a watermark.
        platform_id = f"delivered:{head['customer'].id}:{watermark}"
    elif mids:
        platform_id = f"delivered:{mids[0]}"
    else:
        return f"{head['platform']}: delivery without watermark"
    return Status(
        **head,
        platform_id=platform_id,
        status="delivered",
        message_ids=mids,
        watermark_ms=watermark,
    )


def _read(read: Mapping[str, Any], head: Head) -> Event | str:
    mid = as_id(read.get("mid"))
    watermark = as_ms(read.get("watermark"))
    if mid is not None:
        platform_id = f"read:{mid}"
    elif watermark is not None:
        platform_id = f"read:{head['customer'].id}:{watermark}"
    else:
        return f"{head['platform']}: read without watermark"
    return Status(
        **head,
        platform_id=platform_id,
        status="read",
        message_ids=(mid,) if mid is not None else (),
        watermark_ms=watermark,
    )


# --- WhatsApp Cloud ----------------------------------------------------------------------


def _whatsapp_entries(entries: list[Any], resolve: ChannelResolver, result: ParseResult) -> None:
    for entry in entries:
        if not isinstance(entry, dict):
            result.ignored.append("whatsapp: entry is not an object")
            continue
        changes = as_list(entry.get("changes"))
        if not changes:
            result.ignored.append("whatsapp: entry without changes")
        for raw in changes:
            change = as_obj(raw)
            field = change.get("field")
            if field not in ("messages", "smb_message_echoes"):
                result.ignored.append(f"whatsapp: field {label(field)}")
                continue
            value = as_obj(change.get("value"))
            number = as_id(as_obj(value.get("metadata")).get("phone_number_id"))
            channel_id = resolve("whatsapp", number) if number is not None else None
            _whatsapp_value(value, channel_id, number, result)


def _whatsapp_value(
    value: Mapping[str, Any], channel_id: str | None, number: str | None, result: ParseResult
) -> None:
    contacts = as_list(value.get("contacts"))
    seen = 0
    # Body order: Meta writes messages, statuses and errors as separate keys of one value.
    for key, items in value.items():
        if key == "errors":
            for error in as_list(items):
                seen += 1
                result.ignored.append(f"whatsapp: error {label(as_obj(error).get('code'))}")
            continue
        if key not in _WA_ITEM_LISTS:
            continue
        for item in as_list(items):
            seen += 1
            if channel_id is None:
                result.ignored.append(
                    f"whatsapp: unknown number {label(number)}"
                    if number is not None
                    else "whatsapp: change without phone_number_id"
                )
            elif not isinstance(item, dict):
                result.ignored.append(f"whatsapp: {key} item is not an object")
            elif key == "messages":
                _add(result, _wa_message(item, channel_id, contacts))
            elif key == "statuses":
                _add(result, _wa_status(item, channel_id, contacts))
            else:
                _add(result, _wa_echo(item, channel_id))
    if not seen:
        result.ignored.append("whatsapp: change without items")


def _wa_contact(contacts: list[Any], wa_id: str | None, user_id: str | None) -> Mapping[str, Any]:
    """The contacts[] entry for this person; a lone entry is theirs even if ids differ."""
    for raw in contacts:
        contact = as_obj(raw)
        if (user_id is not None and as_id(contact.get("user_id")) == user_id) or (
            wa_id is not None and as_id(contact.get("wa_id")) == wa_id
        ):
            return contact
    return as_obj(contacts[0]) if len(contacts) == 1 else EMPTY


def _wa_customer(contacts: list[Any], wa_id: str | None, user_id: str | None) -> Customer | None:
    contact = _wa_contact(contacts, wa_id, user_id)
    # wa_id may be "" once the person uses a username: as_id turns that into None.
    phone = as_id(contact.get("wa_id")) or wa_id
    key = user_id or as_id(contact.get("user_id")) or phone
    if key is None:
        return None
    name = as_str(as_obj(contact.get("profile")).get("name"))
    return Customer(id=key, name=name, phone=phone)


def _wa_message(message: Mapping[str, Any], channel_id: str, contacts: list[Any]) -> Event | str:
    customer = _wa_customer(
        contacts, as_id(message.get("from")), as_id(message.get("from_user_id"))
    )
    if customer is None:
        return "whatsapp: message without sender"
    timestamp_ms = as_ms(message.get("timestamp"))
    if timestamp_ms is None:
        return "whatsapp: message without timestamp"
    head = Head(
        channel_id=channel_id, platform="whatsapp", customer=customer, timestamp_ms=timestamp_ms
    )
    kind = as_str(message.get("type")) or "unknown"
    platform_id = as_id(message.get("id")) or _fallback_id(kind, head)
    body = as_obj(message.get(kind))
    if kind == "interactive":
        reply_kind = body.get("type")
        if reply_kind in ("button_reply", "list_reply"):
            reply = as_obj(body.get(reply_kind))
            return Postback(
                **head,
                platform_id=platform_id,
                payload=as_id(reply.get("id")) or "",
                title=as_str(reply.get("title")),
                source="button" if reply_kind == "button_reply" else "list",
            )
    elif kind == "button":
        return Postback(
            **head,
            platform_id=platform_id,
            payload=as_str(body.get("payload")) or "",
            title=as_str(body.get("text")),
            source="template_button",
        )
    elif kind == "reaction":
        target = as_id(body.get("message_id"))
        if target is None:
            return "whatsapp: reaction without message_id"
        # Removal: Meta omits the emoji, other captures send "".
        emoji = as_str(body.get("emoji"))
        return Reaction(
            **head,
            platform_id=platform_id,
            message_id=target,
            emoji=emoji,
            action="react" if emoji else "unreact",
        )
    elif kind in ("revoke", "edit"):
        target = as_id(body.get("original_message_id"))
        if target is None:
            return f"whatsapp: {kind} without original_message_id"
        if kind == "revoke":
            return MessageDeleted(**head, platform_id=platform_id, message_id=target)
        text = _wa_text(as_obj(body.get("message")))
        return MessageEdited(**head, platform_id=platform_id, message_id=target, text=text)
    elif kind == "system":
        return f"whatsapp: system {label(body.get('type'))}"
    return _wa_received(message, kind, body, head, platform_id)


def _wa_received(
    message: Mapping[str, Any], kind: str, body: Mapping[str, Any], head: Head, platform_id: str
) -> Event | str:
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    shared: tuple[SharedContact, ...] = ()
    unsupported: str | None = None
    if kind == "text":
        text = as_str(body.get("body"))
    elif kind in _WA_MEDIA:
        attachments = (_wa_media(kind, body),)
    elif kind == "location":
        location = _wa_location(body)
        if location is None:
            return "whatsapp: location without coordinates"
    elif kind == "contacts":
        # Unlike other types, the payload under "contacts" is a list.
        shared = tuple(_wa_shared_contact(as_obj(c)) for c in as_list(message.get("contacts")))
    elif kind == "unsupported":
        unsupported = as_str(body.get("type")) or "unsupported"
    elif kind == "interactive":
        unsupported = f"interactive.{label(body.get('type'))}"
    else:
        unsupported = label(kind)
    context = as_obj(message.get("context"))
    referral = as_obj(message.get("referral"))
    return MessageReceived(
        **head,
        platform_id=platform_id,
        text=text,
        attachments=attachments,
        reply_to=as_id(context.get("id")),
        location=location,
        contacts=shared,
        referral=as_str(referral.get("source_url")) or as_str(referral.get("headline")),
        forwarded=context.get("forwarded") is True or context.get("frequently_forwarded") is True,
        unsupported=unsupported,
    )


def _wa_text(message: Mapping[str, Any]) -> str | None:
    """The words of a message object: text body, or a media caption."""
    kind = message.get("type")
    if not isinstance(kind, str):
        return None
    body = as_obj(message.get(kind))
    return as_str(body.get("body")) if kind == "text" else as_str(body.get("caption"))


def _wa_media(kind: str, body: Mapping[str, Any]) -> Attachment:
    return Attachment(
        type=kind,
        url=as_str(body.get("url")),
        media_id=as_id(body.get("id")),
        mime_type=as_str(body.get("mime_type")),
        caption=as_str(body.get("caption")),
        filename=as_str(body.get("filename")),
    )


def _wa_location(body: Mapping[str, Any]) -> Location | None:
    latitude = as_float(body.get("latitude"))
    longitude = as_float(body.get("longitude"))
    if latitude is None or longitude is None:
        return None
    return Location(
        latitude=latitude,
        longitude=longitude,
        name=as_str(body.get("name")),
        address=as_str(body.get("address")),
        url=as_str(body.get("url")),
    )


def _wa_shared_contact(card: Mapping[str, Any]) -> SharedContact:
    names = as_obj(card.get("name"))
    phones = tuple(
        phone
        for phone in (
            as_str(as_obj(p).get("phone")) or as_id(as_obj(p).get("wa_id"))
            for p in as_list(card.get("phones"))
        )
        if phone
    )
    emails = tuple(
        email
        for email in (as_str(as_obj(e).get("email")) for e in as_list(card.get("emails")))
        if email
    )
    name = as_str(names.get("formatted_name")) or " ".join(
        part for part in (as_str(names.get("first_name")), as_str(names.get("last_name"))) if part
    )
    return SharedContact(name=name or (phones[0] if phones else ""), phones=phones, emails=emails)


def _wa_status(status: Mapping[str, Any], channel_id: str, contacts: list[Any]) -> Event | str:
    wamid = as_id(status.get("id"))
    if wamid is None:
        return "whatsapp: status without id"
    name = status.get("status")
    known = _WA_STATUSES.get(name) if isinstance(name, str) else None
    if known is None:
        return f"whatsapp: status {label(name)}"
    customer = _wa_customer(
        contacts, as_id(status.get("recipient_id")), as_id(status.get("recipient_user_id"))
    )
    if customer is None:
        return "whatsapp: status without recipient"
    timestamp_ms = as_ms(status.get("timestamp"))
    if timestamp_ms is None:
        return "whatsapp: status without timestamp"
    return Status(
        channel_id=channel_id,
        platform="whatsapp",
        customer=customer,
        timestamp_ms=timestamp_ms,
        # One event per (message, status): sent/delivered/read differ, retries dedupe.
        platform_id=f"{wamid}:{known}",
        status=known,
        message_ids=(wamid,),
        errors=tuple(_wa_error(as_obj(e)) for e in as_list(status.get("errors"))),
    )


def _wa_error(error: Mapping[str, Any]) -> PlatformError:
    code = as_int(error.get("code"))
    return PlatformError(
        code=0 if code is None else code,
        title=as_str(error.get("title")) or as_str(error.get("message")),
        detail=as_str(as_obj(error.get("error_data")).get("details")),
    )


def _wa_echo(echo: Mapping[str, Any], channel_id: str) -> Event | str:
    """``smb_message_echoes``: what the business sent from the WhatsApp Business app."""
    to = as_id(echo.get("to"))
    # The "to" number may carry a "+" that inbound wa_ids never have.
    phone = (to.removeprefix("+") or None) if to is not None else None
    key = as_id(echo.get("to_user_id")) or phone
    if key is None:
        return "whatsapp: echo without recipient"
    timestamp_ms = as_ms(echo.get("timestamp"))
    if timestamp_ms is None:
        return "whatsapp: echo without timestamp"
    kind = as_str(echo.get("type")) or "unknown"
    body = as_obj(echo.get(kind))
    return MessageEcho(
        channel_id=channel_id,
        platform="whatsapp",
        customer=Customer(id=key, phone=phone),
        timestamp_ms=timestamp_ms,
        platform_id=as_id(echo.get("id")) or f"echo:{key}:{timestamp_ms}",
        text=as_str(body.get("body")) if kind == "text" else None,
        attachments=(_wa_media(kind, body),) if kind in _WA_MEDIA else (),
    )
