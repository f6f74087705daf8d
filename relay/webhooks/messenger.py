"""Messenger-format webhook entries (``object: page`` and ``object: instagram``) to events.

Instagram Messaging uses Messenger's envelope and item shapes; what only Instagram sends
(unsent and unsupported messages, story replies, messages to self) is in
:mod:`relay.webhooks.instagram`. Decisions the documentation leaves open:

* Items under ``standby`` (threads another app controls) become the same events as
  ``messaging`` items; the events carry no mark of it.
* An item that is only a ``referral`` (m.me link, ad click on an existing thread) becomes
  a ``MessageReceived`` with ``referral`` set and no text: the customer did act.
* Receipts without a message id get a ``platform_id`` built from the customer and the
  watermark, so Meta's retries dedupe and two customers never collide.
* A timestamp that is missing or unreadable falls back to the entry's ``time``, then to
  the time of receipt; ISO-8601 strings are read as such.
* Opt-ins (marketing messages, one-time notifications, plugins) become ``OptIn`` with
  their token; handover items (pass, take, request thread control) become ``Handover``;
  ``app_roles`` names no customer and becomes an informational ``ChannelAlert``.
* Anything else of a known Page or account still makes an event: ``Unsupported`` in the
  customer's conversation, or a ``ChannelAlert`` when the item names no customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from common.events import (
    Attachment,
    ChannelAlert,
    Customer,
    Event,
    Handover,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    OptIn,
    Postback,
    Reaction,
    Status,
)
from relay.webhooks.instagram import instagram_message
from relay.webhooks.parsing import (
    ChannelResolver,
    Head,
    Ignored,
    ParseResult,
    as_id,
    as_int,
    as_list,
    as_ms,
    as_obj,
    as_str,
    as_time,
    fallback_id,
    label,
    unsupported,
)

__all__ = ["MessagingPlatform", "messaging_entries"]

MessagingPlatform = Literal["messenger", "instagram"]

_MESSAGING_LISTS: Final = frozenset({"messaging", "standby"})
_ITEM_FRAME: Final = frozenset({"sender", "recipient", "timestamp"})
# Handover item -> (action, the key naming the app it came from, the key naming the app it goes to).
_HANDOVER: Final[Mapping[str, tuple[Literal["pass", "take", "request"], str, str]]] = {
    "pass_thread_control": ("pass", "previous_owner_app_id", "new_owner_app_id"),
    "take_thread_control": ("take", "previous_owner_app_id", "new_owner_app_id"),
    "request_thread_control": ("request", "", "requested_owner_app_id"),
}
_OPTIN_TOPICS: Final[Mapping[str, str]] = {
    "notification_messages": "marketing_messages",
    "one_time_notif_req": "one_time_notification",
}
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


def messaging_entries(
    entries: list[Any],
    platform: MessagingPlatform,
    resolve: ChannelResolver,
    received_ms: int,
    result: ParseResult,
) -> None:
    """Append the events of every entry (in body order) to ``result``."""
    owner = "page" if platform == "messenger" else "account"
    for entry in entries:
        if not isinstance(entry, dict):
            result.ignored.append(Ignored(platform, "entry is not an object"))
            continue
        account = as_id(entry.get("id"))
        channel_id = resolve(platform, account) if account is not None else None
        entry_ms = as_time(entry.get("time")) or received_ms
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
                    # The newer {"field", "value"} form. Messaging fields (all named
                    # "messag...") are items like any other; the rest (feed, comments,
                    # insights) are no conversation and fields the relay never subscribes.
                    change = as_obj(raw)
                    item = change.get("value")
                    field = change.get("field")
                    messaging = isinstance(field, str) and field.startswith("messag")
                    if not messaging and not (
                        isinstance(item, dict) and ("sender" in item or "recipient" in item)
                    ):
                        result.ignored.append(
                            Ignored(platform, "not a messaging field", label(field))
                        )
                        continue
                if channel_id is None:
                    result.ignored.append(Ignored(platform, f"unknown {owner}", label(account)))
                    continue
                result.events.append(messaging_item(item, platform, channel_id, entry_ms))
        if not seen:
            result.ignored.append(Ignored(platform, "entry without items"))


def messaging_item(
    item: object, platform: MessagingPlatform, channel_id: str, fallback_ms: int
) -> Event:
    """One ``messaging``/``standby`` item of a known channel as its event."""
    if not isinstance(item, dict):
        return _alert(
            platform, channel_id, fallback_ms, type(item).__name__, "item is not an object"
        )
    timestamp_ms = as_time(item.get("timestamp")) or fallback_ms
    message = item.get("message")
    echo = isinstance(message, dict) and message.get("is_echo") is True
    # An echo is the business writing: the customer is its recipient. A checkbox plugin's
    # opt-in names the person only by the plugin's user_ref.
    person = _party(item.get("recipient" if echo else "sender")) or as_id(
        as_obj(item.get("optin")).get("user_ref")
    )
    what = _what(item)
    if "app_roles" in item:
        return _app_roles(item["app_roles"], platform, channel_id, timestamp_ms)
    policy = item.get("policy-enforcement", item.get("policy_enforcement"))
    if isinstance(policy, dict):
        # Meta blocked (or unblocked) the Page's messaging for a policy breach.
        action = as_str(policy.get("action")) or "unknown"
        return ChannelAlert(
            channel_id=channel_id,
            platform=platform,
            timestamp_ms=timestamp_ms,
            raw_type=f"policy_enforcement.{label(action)}",
            reason="policy enforcement",
            level="info" if action == "unblock" else "problem",
            detail=as_str(policy.get("reason")),
            platform_id=f"policy:{label(action)}:{timestamp_ms}",
        )
    if person is None:
        side = "recipient" if echo else "sender"
        alert = _alert(platform, channel_id, timestamp_ms, what, f"item without {side}")
        mid = as_id(message.get("mid")) if isinstance(message, dict) else None
        # The message's own id, where it has one, lets Meta's retries dedupe.
        return msgspec.structs.replace(alert, platform_id=mid) if mid else alert
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
    if "optin" in item:
        return _optin(as_obj(item["optin"]), head)
    handover = next((key for key in _HANDOVER if key in item), None)
    if handover is not None:
        return _handover(handover, as_obj(item[handover]), head)
    if "referral" in item:
        referral = _referral(item["referral"])
        if referral is not None:
            return MessageReceived(
                **head, platform_id=fallback_id("referral", head), referral=referral
            )
        return unsupported(head, "referral", "referral without ref")
    # Policy notices, newer item kinds...: shown as "open it in the platform's app".
    return unsupported(head, what, "unknown item kind" if what != "empty" else "empty item")


def _what(item: Mapping[str, Any]) -> str:
    return label(next((key for key in item if key not in _ITEM_FRAME), "empty"))


def _alert(
    platform: MessagingPlatform, channel_id: str, timestamp_ms: int, raw_type: str, reason: str
) -> ChannelAlert:
    return ChannelAlert(
        channel_id=channel_id,
        platform=platform,
        timestamp_ms=timestamp_ms,
        raw_type=raw_type,
        reason=reason,
    )


def _app_roles(
    value: object, platform: MessagingPlatform, channel_id: str, timestamp_ms: int
) -> ChannelAlert:
    """Which app of the Page has which role (primary or secondary receiver) now."""
    roles = as_obj(value)
    detail = "; ".join(
        f"app {label(app)}: {', '.join(label(r) for r in as_list(names))}"
        for app, names in roles.items()
    )
    return ChannelAlert(
        channel_id=channel_id,
        platform=platform,
        timestamp_ms=timestamp_ms,
        raw_type="app_roles",
        reason="app roles changed",
        level="info",
        detail=detail or None,
        platform_id=f"app_roles:{timestamp_ms}",
    )


def _optin(optin: Mapping[str, Any], head: Head) -> OptIn:
    kind = as_str(optin.get("type"))
    stopped = optin.get("notification_messages_status") == "STOP_NOTIFICATIONS"
    action: Literal["opt_in", "opt_out"] = "opt_out" if stopped else "opt_in"
    return OptIn(
        **head,
        platform_id=fallback_id(f"optin:{action}", head),
        action=action,
        topic=_OPTIN_TOPICS.get(kind, label(kind)) if kind else "plugin",
        title=as_str(optin.get("title")),
        payload=as_str(optin.get("payload")) or as_str(optin.get("ref")),
        frequency=as_str(optin.get("notification_messages_frequency")),
        token=as_str(optin.get("notification_messages_token"))
        or as_str(optin.get("one_time_notif_token")),
        token_expires_ms=as_ms(optin.get("token_expiry_timestamp")),
    )


def _handover(key: str, value: Mapping[str, Any], head: Head) -> Handover:
    action, source, target = _HANDOVER[key]
    return Handover(
        **head,
        platform_id=fallback_id(f"handover:{action}", head),
        action=action,
        from_app=as_id(value.get(source)) if source else None,
        to_app=as_id(value.get(target)),
        metadata=as_str(value.get("metadata")),
    )


def _party(value: object) -> str | None:
    party = as_obj(value)
    return as_id(party.get("id")) or as_id(party.get("user_ref"))


def _message(message: Mapping[str, Any], head: Head) -> Event:
    mid = as_id(message.get("mid"))
    special = instagram_message(message, mid, head)
    if special is not None:
        return special
    reply_to = as_obj(message.get("reply_to"))
    story = as_obj(reply_to.get("story"))
    event = MessageReceived(
        **head,
        platform_id=mid or fallback_id("message", head),
        text=as_str(message.get("text")),
        attachments=attachments(message.get("attachments")),
        quick_reply=as_str(as_obj(message.get("quick_reply")).get("payload")),
        reply_to=as_id(reply_to.get("mid")),
        story_url=as_str(story.get("url")),
        story_id=as_id(story.get("id")),
        referral=_referral(message.get("referral")),
    )
    if event.text or event.attachments or event.story_url or event.referral:
        return event
    # Nothing we could show: say so rather than paint an empty bubble.
    return unsupported(head, "message", "message without content", platform_id=event.platform_id)


def _echo(message: Mapping[str, Any], head: Head) -> MessageEcho:
    return MessageEcho(
        **head,
        platform_id=as_id(message.get("mid")) or fallback_id("echo", head),
        text=as_str(message.get("text")),
        attachments=attachments(message.get("attachments")),
        app_id=as_id(message.get("app_id")),
        metadata=as_str(message.get("metadata")),
    )


def attachments(value: object) -> tuple[Attachment, ...]:
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


def _edit(edit: Mapping[str, Any], head: Head) -> Event:
    mid = as_id(edit.get("mid"))
    if mid is None:
        return unsupported(head, "message_edit", "edit without mid")
    number = as_int(edit.get("num_edit"))
    serial = head["timestamp_ms"] if number is None else number
    return MessageEdited(
        **head, platform_id=f"{mid}:edit:{serial}", message_id=mid, text=as_str(edit.get("text"))
    )


def _postback(postback: Mapping[str, Any], head: Head) -> Postback:
    return Postback(
        **head,
        platform_id=as_id(postback.get("mid")) or fallback_id("postback", head),
        # Standby postbacks come without a payload.
        payload=as_str(postback.get("payload")) or "",
        title=as_str(postback.get("title")),
        source="postback",
        referral=_referral(postback.get("referral")),
    )


def _reaction(reaction: Mapping[str, Any], head: Head) -> Event:
    mid = as_id(reaction.get("mid"))
    if mid is None:
        return unsupported(head, "reaction", "reaction without mid")
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


def _receipt_alert(head: Head, raw_type: str) -> ChannelAlert:
    """A receipt naming no message: the channel hears of it, no conversation does."""
    return ChannelAlert(
        channel_id=head["channel_id"],
        platform=head["platform"],
        timestamp_ms=head["timestamp_ms"],
        raw_type=raw_type,
        reason="receipt without message or watermark",
        platform_id=fallback_id(raw_type, head),
    )


def _delivery(delivery: Mapping[str, Any], head: Head) -> Event:
    mids = tuple(mid for mid in map(as_id, as_list(delivery.get("mids"))) if mid)
    watermark = as_ms(delivery.get("watermark"))
    if watermark is not None:
        # The customer is part of the key: two threads can share a watermark.
        platform_id = f"delivered:{head['customer'].id}:{watermark}"
    elif mids:
        platform_id = f"delivered:{mids[0]}"
    else:
        return _receipt_alert(head, "delivery")
    return Status(
        **head,
        platform_id=platform_id,
        status="delivered",
        message_ids=mids,
        watermark_ms=watermark,
    )


def _read(read: Mapping[str, Any], head: Head) -> Event:
    mid = as_id(read.get("mid"))
    watermark = as_ms(read.get("watermark"))
    if mid is not None:
        platform_id = f"read:{mid}"
    elif watermark is not None:
        platform_id = f"read:{head['customer'].id}:{watermark}"
    else:
        return _receipt_alert(head, "read")
    return Status(
        **head,
        platform_id=platform_id,
        status="read",
        message_ids=(mid,) if mid is not None else (),
        watermark_ms=watermark,
    )
