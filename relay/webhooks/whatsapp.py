"""WhatsApp Cloud webhook entries (``object: whatsapp_business_account``) to events.

Decisions the documentation leaves open:

* Customers are keyed on the BSUID (``user_id``) when the payload has one, else on
  ``wa_id``; statuses follow the same rule so receipts meet their messages.
* The message's own ``from``/``from_user_id`` names the sender. A ``contacts[]`` entry
  only adds the name (and BSUID) when it matches; a contradicting one is not believed.
* Timestamps are seconds; a missing or unreadable one falls back to the time of receipt.
* ``errors`` of a change value (e.g. 130429 throughput) become a ``ChannelAlert``; a
  ``system`` message about a new number or BSUID becomes ``CustomerChanged``; a
  ``request_welcome`` (a first visit, no message) is a ``conversation_started``
  ``Subscription``; a message of a type we cannot show becomes ``Unsupported`` with its
  errors.
* ``user_preferences`` (a customer stopped or resumed marketing messages) is an
  ``OptIn`` in their conversation.
* Statuses carry their conversation (id, origin, expiry) and ``biz_opaque_callback_data``.
* Account-level fields (template status, quality, alerts, account updates, security) are
  keyed by the WhatsApp Business Account id and become ``ChannelAlert`` on its channels
  (:mod:`relay.webhooks.whatsapp_account`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from common.events import (
    Attachment,
    ChannelAlert,
    ConversationWindow,
    Customer,
    CustomerChanged,
    Event,
    Location,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    OptIn,
    PlatformError,
    Postback,
    Pricing,
    Reaction,
    SharedContact,
    Status,
    Subscription,
)
from relay.webhooks.parsing import (
    EMPTY,
    AccountResolver,
    ChannelResolver,
    Head,
    Ignored,
    ParseResult,
    as_float,
    as_id,
    as_int,
    as_list,
    as_obj,
    as_str,
    as_time,
    fallback_id,
    label,
    no_accounts,
    unsupported,
)
from relay.webhooks.whatsapp_account import account_change

__all__ = ["whatsapp_entries"]

StatusName = Literal["sent", "delivered", "read", "played", "failed"]

_MEDIA: Final = frozenset({"image", "video", "audio", "sticker", "document"})
_STATUSES: Final[Mapping[str, StatusName]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "failed": "failed",
}
_ITEM_LISTS: Final = frozenset(
    {"messages", "statuses", "message_echoes", "errors", "user_preferences"}
)
# Fields whose value names our number in metadata.phone_number_id; the others are the
# account's (whatsapp_account.py).
_FIELDS: Final = frozenset({"messages", "smb_message_echoes", "user_preferences"})
_NEW_ID: Final = frozenset({"user_changed_number", "user_changed_user_id"})


def whatsapp_entries(
    entries: list[Any],
    resolve: ChannelResolver,
    received_ms: int,
    result: ParseResult,
    accounts: AccountResolver = no_accounts,
) -> None:
    """Append the events of every entry and change (in body order) to ``result``."""
    for entry in entries:
        if not isinstance(entry, dict):
            result.ignored.append(Ignored("whatsapp", "entry is not an object"))
            continue
        changes = as_list(entry.get("changes"))
        if not changes:
            result.ignored.append(Ignored("whatsapp", "entry without changes"))
        for raw in changes:
            change = as_obj(raw)
            field = change.get("field")
            value = as_obj(change.get("value"))
            if field not in _FIELDS:
                if not isinstance(field, str):
                    result.ignored.append(Ignored("whatsapp", "change without field"))
                else:
                    account_change(entry, field, value, resolve, accounts, received_ms, result)
                continue
            number = as_id(as_obj(value.get("metadata")).get("phone_number_id"))
            channel_id = resolve("whatsapp", number) if number is not None else None
            if channel_id is None:
                reason = Ignored("whatsapp", "unknown number", label(number))
                result.ignored.extend(reason for _ in range(max(_count(value), 1)))
                continue
            _value(value, channel_id, received_ms, result)


def _count(value: Mapping[str, Any]) -> int:
    return sum(len(as_list(value.get(key))) for key in _ITEM_LISTS)


def _value(
    value: Mapping[str, Any], channel_id: str, received_ms: int, result: ParseResult
) -> None:
    contacts = as_list(value.get("contacts"))
    seen = 0
    # Body order: Meta writes messages, statuses and errors as separate keys of one value.
    for key, items in value.items():
        if key not in _ITEM_LISTS:
            if key != "contacts" and isinstance(items, list):
                # A list of items of a kind newer than this relay: the channel hears of each.
                for _ in items:
                    seen += 1
                    result.events.append(
                        _alert(channel_id, received_ms, label(key), "unknown item kind")
                    )
            continue
        for item in as_list(items):
            seen += 1
            if not isinstance(item, dict):
                result.events.append(
                    _alert(channel_id, received_ms, key, f"{key} item is not an object")
                )
            elif key == "messages":
                result.events.append(_message(item, channel_id, contacts, received_ms))
            elif key == "statuses":
                result.events.append(_status(item, channel_id, contacts, received_ms))
            elif key == "user_preferences":
                result.events.append(_preference(item, channel_id, contacts, received_ms))
            elif key == "errors":
                result.events.append(
                    ChannelAlert(
                        channel_id=channel_id,
                        platform="whatsapp",
                        timestamp_ms=received_ms,
                        raw_type="errors",
                        reason="account error",
                        errors=(error(item),),
                    )
                )
            else:
                result.events.append(_echo(item, channel_id, received_ms))
    if not seen:
        result.ignored.append(Ignored("whatsapp", "change without items"))


def _alert(
    channel_id: str,
    timestamp_ms: int,
    raw_type: str,
    reason: str,
    platform_id: str | None = None,
) -> ChannelAlert:
    return ChannelAlert(
        channel_id=channel_id,
        platform="whatsapp",
        timestamp_ms=timestamp_ms,
        raw_type=raw_type,
        reason=reason,
        platform_id=platform_id,
    )


def _customer(contacts: list[Any], wa_id: str | None, user_id: str | None) -> Customer | None:
    """The person the item names itself; a matching contacts[] entry adds name and BSUID.

    Only when the item names nobody is a lone contacts[] entry taken as the person.
    """
    contact: Mapping[str, Any] = EMPTY
    for raw in contacts:
        candidate = as_obj(raw)
        if (user_id is not None and as_id(candidate.get("user_id")) == user_id) or (
            wa_id is not None and as_id(candidate.get("wa_id")) == wa_id
        ):
            contact = candidate
            break
    else:
        if wa_id is None and user_id is None and len(contacts) == 1:
            contact = as_obj(contacts[0])
    # wa_id may be "" once the person uses a username: as_id turns that into None.
    phone = wa_id or as_id(contact.get("wa_id"))
    key = user_id or as_id(contact.get("user_id")) or phone
    if key is None:
        return None
    name = as_str(as_obj(contact.get("profile")).get("name"))
    return Customer(id=key, name=name, phone=phone)


def _message(
    message: Mapping[str, Any], channel_id: str, contacts: list[Any], received_ms: int
) -> Event:
    timestamp_ms = as_time(message.get("timestamp")) or received_ms
    kind = as_str(message.get("type")) or "unknown"
    body = as_obj(message.get(kind))
    sender = as_id(message.get("from"))
    customer = _customer(contacts, sender, as_id(message.get("from_user_id")))
    if customer is None:
        wamid = as_id(message.get("id"))
        return _alert(channel_id, timestamp_ms, kind, "message without sender", wamid)
    head = Head(
        channel_id=channel_id, platform="whatsapp", customer=customer, timestamp_ms=timestamp_ms
    )
    platform_id = as_id(message.get("id")) or fallback_id(kind, head)
    context = as_obj(message.get("context"))
    reply_to = as_id(context.get("id"))
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
                reply_to=reply_to,
            )
        return unsupported(
            head,
            f"interactive.{label(reply_kind)}",
            "unknown interactive reply",
            platform_id=platform_id,
            reply_to=reply_to,
        )
    if kind == "button":
        return Postback(
            **head,
            platform_id=platform_id,
            payload=as_str(body.get("payload")) or "",
            title=as_str(body.get("text")),
            source="template_button",
            reply_to=reply_to,
        )
    if kind == "reaction":
        target = as_id(body.get("message_id"))
        if target is None:
            return unsupported(head, kind, "reaction without message_id", platform_id=platform_id)
        # Removal: Meta omits the emoji, other captures send "".
        emoji = as_str(body.get("emoji"))
        return Reaction(
            **head,
            platform_id=platform_id,
            message_id=target,
            emoji=emoji,
            action="react" if emoji else "unreact",
        )
    if kind in ("revoke", "edit"):
        target = as_id(body.get("original_message_id"))
        if target is None:
            reason = f"{kind} without original_message_id"
            return unsupported(head, kind, reason, platform_id=platform_id)
        if kind == "revoke":
            return MessageDeleted(**head, platform_id=platform_id, message_id=target)
        text, media = _content(as_obj(body.get("message")))
        return MessageEdited(
            **head, platform_id=platform_id, message_id=target, text=text, attachments=media
        )
    if kind == "system":
        return _system(body, head, platform_id)
    if kind == "request_welcome":
        # The customer opened the chat for the first time (no message yet), as Viber's
        # conversation_started: the thread appears and the business may greet them.
        return Subscription(**head, platform_id=platform_id, action="conversation_started")
    return _received(message, kind, body, head, platform_id, reply_to)


def _system(body: Mapping[str, Any], head: Head, platform_id: str) -> Event:
    change = as_str(body.get("type")) or "unknown"
    new_phone = as_id(body.get("wa_id"))
    new_id = as_id(body.get("user_id")) or new_phone
    if change in _NEW_ID and new_id is not None:
        previous = as_id(body.get("previous_user_id"))
        customer = head["customer"]
        if previous is not None and previous != customer.id:
            customer = Customer(id=previous, name=customer.name, phone=customer.phone)
        return CustomerChanged(
            channel_id=head["channel_id"],
            platform="whatsapp",
            customer=customer,
            timestamp_ms=head["timestamp_ms"],
            platform_id=platform_id,
            new_id=new_id,
            new_phone=new_phone,
            change=change,
            detail=as_str(body.get("body")),
        )
    return unsupported(
        head,
        f"system.{label(change)}",
        "system message",
        platform_id=platform_id,
        text=as_str(body.get("body")),
    )


def _received(
    message: Mapping[str, Any],
    kind: str,
    body: Mapping[str, Any],
    head: Head,
    platform_id: str,
    reply_to: str | None,
) -> Event:
    text: str | None = None
    media: tuple[Attachment, ...] = ()
    location: Location | None = None
    shared: tuple[SharedContact, ...] = ()
    if kind == "text":
        text = as_str(body.get("body"))
    elif kind in _MEDIA:
        media = (_media(kind, body),)
    elif kind == "location":
        location = _location(body)
        if location is None:
            return unsupported(head, kind, "location without coordinates", platform_id=platform_id)
    elif kind == "contacts":
        # Unlike other types, the payload under "contacts" is a list.
        shared = tuple(_shared_contact(as_obj(c)) for c in as_list(message.get("contacts")))
    else:
        errors = tuple(error(as_obj(e)) for e in as_list(message.get("errors")))
        if kind == "unsupported":
            raw_type = as_str(body.get("type")) or "unsupported"
            reason = "unsupported by the platform"
        else:
            raw_type, reason = kind, "unknown message type"
        return unsupported(
            head,
            label(raw_type),
            reason,
            platform_id=platform_id,
            text=as_str(body.get("text")) or as_str(body.get("body")),
            reply_to=reply_to,
            errors=errors,
        )
    context = as_obj(message.get("context"))
    referral = as_obj(message.get("referral"))
    return MessageReceived(
        **head,
        platform_id=platform_id,
        text=text,
        attachments=media,
        reply_to=reply_to,
        location=location,
        contacts=shared,
        referral=as_str(referral.get("source_url")) or as_str(referral.get("headline")),
        forwarded=context.get("forwarded") is True or context.get("frequently_forwarded") is True,
    )


def _content(message: Mapping[str, Any]) -> tuple[str | None, tuple[Attachment, ...]]:
    """The words and media of an edited message: text body, or media with its caption."""
    kind = message.get("type")
    if not isinstance(kind, str):
        return None, ()
    body = as_obj(message.get(kind))
    if kind == "text":
        return as_str(body.get("body")), ()
    if kind in _MEDIA:
        return as_str(body.get("caption")), (_media(kind, body),)
    return as_str(body.get("caption")) or as_str(body.get("body")), ()


def _media(kind: str, body: Mapping[str, Any]) -> Attachment:
    return Attachment(
        type=kind,
        url=as_str(body.get("url")),
        media_id=as_id(body.get("id")),
        mime_type=as_str(body.get("mime_type")),
        caption=as_str(body.get("caption")),
        filename=as_str(body.get("filename")),
    )


def _location(body: Mapping[str, Any]) -> Location | None:
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


def _shared_contact(card: Mapping[str, Any]) -> SharedContact:
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


def _status(
    status: Mapping[str, Any], channel_id: str, contacts: list[Any], received_ms: int
) -> Event:
    timestamp_ms = as_time(status.get("timestamp")) or received_ms
    wamid = as_id(status.get("id"))
    name = status.get("status")
    known = _STATUSES.get(name) if isinstance(name, str) else None
    if wamid is None:
        return _alert(channel_id, timestamp_ms, f"status.{label(name)}", "status without id")
    if known is None:
        return _alert(
            channel_id,
            timestamp_ms,
            f"status.{label(name)}",
            "unknown status",
            f"{wamid}:{label(name)}",
        )
    customer = _customer(
        contacts, as_id(status.get("recipient_id")), as_id(status.get("recipient_user_id"))
    )
    if customer is None:
        reason = "status without recipient"
        return _alert(channel_id, timestamp_ms, f"status.{known}", reason, f"{wamid}:{known}")
    return Status(
        channel_id=channel_id,
        platform="whatsapp",
        customer=customer,
        timestamp_ms=timestamp_ms,
        # One event per (message, status): sent/delivered/read differ, retries dedupe.
        platform_id=f"{wamid}:{known}",
        status=known,
        message_ids=(wamid,),
        errors=tuple(error(as_obj(e)) for e in as_list(status.get("errors"))),
        pricing=_pricing(status.get("pricing")),
        conversation=_window(status.get("conversation")),
        callback_data=as_str(status.get("biz_opaque_callback_data")),
    )


def _window(value: object) -> ConversationWindow | None:
    conversation = as_obj(value)
    conversation_id = as_id(conversation.get("id"))
    if conversation_id is None:
        return None
    return ConversationWindow(
        id=conversation_id,
        origin=as_str(as_obj(conversation.get("origin")).get("type")),
        expires_ms=as_time(conversation.get("expiration_timestamp")),
    )


def _preference(
    item: Mapping[str, Any], channel_id: str, contacts: list[Any], received_ms: int
) -> Event:
    """``user_preferences``: the customer stopped or resumed the business's marketing."""
    timestamp_ms = as_time(item.get("timestamp")) or received_ms
    choice = label(item.get("value"))
    customer = _customer(contacts, as_id(item.get("wa_id")), as_id(item.get("user_id")))
    if customer is None:
        reason = "preference without user"
        return _alert(channel_id, timestamp_ms, f"user_preferences.{choice}", reason)
    action: Literal["opt_in", "opt_out"] = "opt_out" if choice == "stop" else "opt_in"
    return OptIn(
        channel_id=channel_id,
        platform="whatsapp",
        customer=customer,
        timestamp_ms=timestamp_ms,
        platform_id=f"prefs:{customer.id}:{timestamp_ms}:{choice}",
        action=action,
        topic=as_str(item.get("category")) or "marketing_messages",
        detail=as_str(item.get("detail")),
    )


def _pricing(value: object) -> Pricing | None:
    pricing = as_obj(value)
    if not pricing:
        return None
    billable = pricing.get("billable")
    return Pricing(
        billable=billable if isinstance(billable, bool) else None,
        model=as_str(pricing.get("pricing_model")),
        category=as_str(pricing.get("category")),
        type=as_str(pricing.get("type")),
    )


def error(value: Mapping[str, Any]) -> PlatformError:
    code = as_int(value.get("code"))
    return PlatformError(
        code=0 if code is None else code,
        title=as_str(value.get("title")) or as_str(value.get("message")),
        detail=as_str(as_obj(value.get("error_data")).get("details")),
    )


def _echo(echo: Mapping[str, Any], channel_id: str, received_ms: int) -> Event:
    """``smb_message_echoes``: what the business sent from the WhatsApp Business app."""
    timestamp_ms = as_time(echo.get("timestamp")) or received_ms
    to = as_id(echo.get("to"))
    # The "to" number may carry a "+" that inbound wa_ids never have.
    phone = (to.removeprefix("+") or None) if to is not None else None
    key = as_id(echo.get("to_user_id")) or phone
    kind = as_str(echo.get("type")) or "unknown"
    if key is None:
        return _alert(
            channel_id,
            timestamp_ms,
            f"echo.{kind}",
            "echo without recipient",
            as_id(echo.get("id")),
        )
    body = as_obj(echo.get(kind))
    text, media = _content({"type": kind, kind: body})
    return MessageEcho(
        channel_id=channel_id,
        platform="whatsapp",
        customer=Customer(id=key, phone=phone),
        timestamp_ms=timestamp_ms,
        platform_id=as_id(echo.get("id")) or f"echo:{key}:{timestamp_ms}",
        text=text,
        attachments=media,
    )
