"""Stream events written into the store: one function per event kind, inside a transaction.

Decisions the protocol leaves open:

* Every customer action the relay counts for the messaging window (message, postback,
  reaction) moves ``last_inbound_ms``; only messages and postbacks count as unread and
  reopen a resolved or snoozed conversation.
* Receipts, reactions, edits and deletions name a message by its platform id; one that
  names a message or conversation this store does not hold is dropped (it cannot be shown).
* A customer's deletion of a message ("unsend") clears its text and attachments here too.
* Opt-ins and handovers are notes in the conversation (author ``platform``, kind
  ``note``): shown, but neither unread nor a turn the assistant answers.
* A channel alert is kept on the channel (the card shows it); an informational one never
  hides a newer-or-older warning or problem, and a warning or problem is announced once.
* A reply this device sent comes back three ways: the relay's answer to the request
  (``outgoing.record_sent``), the ``MessageSent`` event, and (Messenger, Instagram,
  WhatsApp) the platform's echo. The reply's row is the one holding the send's idempotency
  key, which the request and the event both carry; whichever arrives settles it, the
  others find it settled. The echo carries no key: it is recognised by the platform id the
  answer or the event brings, and an echo that came first is folded into the reply then.
  An echo no send claims is the owner writing from the platform's own app, which pauses
  the assistant in that conversation.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import msgspec

from common.channels import Platform, window_deadline_ms
from common.events import (
    ChannelAlert,
    ChannelChanged,
    CustomerChanged,
    CustomerErased,
    Event,
    Handover,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    MessageSent,
    OptIn,
    PlatformEvent,
    Postback,
    Reaction,
    SendFailed,
    Status,
    Subscription,
    Unsupported,
    UsageWarning,
)
from common.events import Customer as EventCustomer

from .changes import (
    Change,
    ChannelsChanged,
    ConversationChanged,
    ConversationRemoved,
    DraftChanged,
    ErasureApplied,
    MessageAdded,
    MessageUpdated,
    UsageChanged,
)
from .drafts import follow_message
from .models import MessageExtras

__all__ = [
    "STATUS_RANK",
    "EventWriter",
    "alert_words",
    "handover_words",
    "opt_in_words",
    "preview",
    "summarize",
]

#: Outbound statuses only move forward; ``failed`` is handled on its own.
STATUS_RANK: Final[dict[str, int]] = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
}
_ENCODER: Final = msgspec.json.Encoder()
_PREVIEW_CHARS: Final = 140


_PLATFORM_NAMES: Final = {
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "webchat": "Web chat",
}


def alert_words(event: ChannelAlert) -> str:
    """A channel alert in a line the owner can read: the platform's words, else ours."""
    errors = "; ".join(
        " — ".join(p for p in (e.title, e.detail) if p) or f"error {e.code}" for e in event.errors
    )
    said = event.detail or errors or f"{event.reason[:1].upper()}{event.reason[1:]}."
    return f"{_PLATFORM_NAMES.get(event.platform, event.platform)}: {said}"


def opt_in_words(event: OptIn) -> str:
    topic = {
        "marketing_messages": "marketing messages",
        "one_time_notification": "one notification",
    }.get(event.topic, event.topic.replace("_", " "))
    about = f" ({event.title})" if event.title else ""
    often = f", {event.frequency.lower()}" if event.frequency else ""
    if event.action == "opt_out":
        return f"The customer stopped {topic}{about}."
    return f"The customer agreed to receive {topic}{about}{often}."


def handover_words(event: Handover) -> str:
    why = f": {event.metadata.rstrip('.')}." if event.metadata else "."
    if event.action == "request":
        return f"Another app asks to take over this conversation{why}"
    if event.action == "take":
        return f"An app took over this conversation{why}"
    return f"The conversation was passed to another app{why}"


def preview(text: str | None, attachments_json: str, deleted: bool) -> str:
    """One line for the conversation list."""
    if deleted:
        return "(message removed)"
    if text and text.strip():
        line = " ".join(text.split())
        return line if len(line) <= _PREVIEW_CHARS else line[: _PREVIEW_CHARS - 1] + "…"
    kinds = [a.type for a in msgspec.json.decode(attachments_json, type=list[_Kind])]
    return " ".join(f"[{k}]" for k in kinds) if kinds else ""


class _Kind(msgspec.Struct):
    type: str


def summarize(conn: sqlite3.Connection, conversation_id: int, now_ms: int) -> None:
    """Recompute the conversation's newest-message summary."""
    row = conn.execute(
        "SELECT id, text, attachments, deleted, direction, status, timestamp_ms FROM messages"
        " WHERE conversation_id = ? ORDER BY timestamp_ms DESC, id DESC LIMIT 1",
        (conversation_id,),
    ).fetchone()
    if row is None:
        conn.execute(
            "UPDATE conversations SET last_message_id = NULL, last_preview = NULL,"
            " last_direction = NULL, last_status = NULL, updated_at_ms = ? WHERE id = ?",
            (now_ms, conversation_id),
        )
        return
    conn.execute(
        "UPDATE conversations SET last_message_id = ?, last_preview = ?, last_direction = ?,"
        " last_status = ?, last_activity_ms = MAX(last_activity_ms, ?), updated_at_ms = ?"
        " WHERE id = ?",
        (
            row[0],
            preview(row[1], row[2], bool(row[3])),
            row[4],
            row[5],
            row[6],
            now_ms,
            conversation_id,
        ),
    )


class EventWriter:
    """Applies events on one connection inside the caller's transaction.

    ``own_device_id`` tells this device's sends from other devices'. Notes of what
    changed collect in ``changes``; ``erased`` says a customer was erased (the caller
    then checkpoints the WAL so the data leaves the disk).
    """

    def __init__(self, conn: sqlite3.Connection, own_device_id: str | None, now_ms: int) -> None:
        self.conn = conn
        self.own_device_id = own_device_id
        self.now_ms = now_ms
        self.changes: list[Change] = []
        self.erased = False

    def apply(self, event: Event) -> None:
        match event:
            case MessageReceived():
                self._received(event)
            case Postback():
                self._postback(event)
            case Reaction():
                self._reaction(event)
            case MessageEcho():
                self._echo(event)
            case MessageDeleted():
                self._deleted(event)
            case MessageEdited():
                self._edited(event)
            case Status():
                self._status(event)
            case Subscription():
                self._subscription(event)
            case Unsupported():
                self._unsupported(event)
            case CustomerChanged():
                self._customer_changed(event)
            case ChannelAlert():
                self._channel_alert(event)
            case OptIn():
                self._note(event, opt_in_words(event))
            case Handover():
                self._note(event, handover_words(event))
            case MessageSent():
                self._sent(event)
            case SendFailed():
                self._send_failed(event)
            case ChannelChanged():
                self._channel(event)
            case CustomerErased():
                self._erased(event)
            case UsageWarning():
                self._usage(event)

    # ---- customers and conversations ------------------------------------------------

    def _customer(self, channel_id: str, platform: Platform, person: EventCustomer) -> int:
        row = self.conn.execute(
            "INSERT INTO customers (channel_id, platform, platform_id, name, phone, avatar_url,"
            " created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (channel_id, platform_id) DO UPDATE SET"
            " name = COALESCE(excluded.name, name), phone = COALESCE(excluded.phone, phone),"
            " avatar_url = COALESCE(excluded.avatar_url, avatar_url),"
            " updated_at_ms = excluded.updated_at_ms"
            " RETURNING id",
            (
                channel_id,
                platform,
                person.id,
                person.name,
                person.phone,
                person.avatar_url,
                self.now_ms,
                self.now_ms,
            ),
        ).fetchone()
        return int(row[0])

    def _conversation(self, event: PlatformEvent) -> int:
        """The event's conversation, created (with its customer) when new."""
        customer_id = self._customer(event.channel_id, event.platform, event.customer)
        row = self.conn.execute(
            "SELECT id FROM conversations WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        row = self.conn.execute(
            "INSERT INTO conversations (customer_id, channel_id, platform, last_activity_ms,"
            " created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                customer_id,
                event.channel_id,
                event.platform,
                event.timestamp_ms,
                self.now_ms,
                self.now_ms,
            ),
        ).fetchone()
        return int(row[0])

    def _existing_conversation(self, channel_id: str, customer_platform_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT c.id FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
            " WHERE cu.channel_id = ? AND cu.platform_id = ?",
            (channel_id, customer_platform_id),
        ).fetchone()
        return int(row[0]) if row else None

    def _by_platform_id(self, conversation_id: int, platform_id: str | None) -> int | None:
        if platform_id is None:
            return None
        row = self.conn.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND platform_id = ?"
            " ORDER BY id LIMIT 1",
            (conversation_id, platform_id),
        ).fetchone()
        return int(row[0]) if row else None

    def _customer_acted(
        self, conversation_id: int, platform: Platform, timestamp_ms: int, *, message: bool
    ) -> None:
        """The customer wrote or acted: the window renews; a message also counts as unread."""
        row = self.conn.execute(
            "SELECT last_inbound_ms FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        last = max(row[0] or 0, timestamp_ms)
        deadline = window_deadline_ms(platform, last)
        if message:
            self.conn.execute(
                "UPDATE conversations SET last_inbound_ms = ?, window_deadline_ms = ?,"
                " unread = unread + 1, status = 'open', snoozed_until_ms = NULL,"
                " updated_at_ms = ? WHERE id = ?",
                (last, deadline, self.now_ms, conversation_id),
            )
        else:
            self.conn.execute(
                "UPDATE conversations SET last_inbound_ms = ?, window_deadline_ms = ?,"
                " updated_at_ms = ? WHERE id = ?",
                (last, deadline, self.now_ms, conversation_id),
            )

    def business_replied(self, conversation_id: int, *, seen: bool) -> None:
        """A reply went out: an open conversation now waits on the customer."""
        self.conn.execute(
            "UPDATE conversations SET status = CASE status WHEN 'open' THEN 'waiting'"
            " ELSE status END, unread = CASE WHEN ? THEN 0 ELSE unread END, updated_at_ms = ?"
            " WHERE id = ?",
            (seen, self.now_ms, conversation_id),
        )

    def touched(self, conversation_id: int, message_id: int | None = None) -> None:
        summarize(self.conn, conversation_id, self.now_ms)
        if message_id is not None:
            self.changes.append(
                MessageUpdated(conversation_id=conversation_id, message_id=message_id)
            )
        self.changes.append(ConversationChanged(conversation_id=conversation_id))

    def _insert_message(self, conversation_id: int, **fields: object) -> int:
        fields.setdefault("created_at_ms", self.now_ms)
        fields.setdefault("updated_at_ms", self.now_ms)
        names = ", ".join(fields)
        marks = ", ".join("?" * len(fields))
        row = self.conn.execute(
            f"INSERT INTO messages (conversation_id, {names}) VALUES (?, {marks}) RETURNING id",
            (conversation_id, *fields.values()),
        ).fetchone()
        return int(row[0])

    def _new_message(
        self, event: PlatformEvent, extras: MessageExtras | None = None, **fields: object
    ) -> tuple[int, int] | None:
        """Stores the message ``event`` brings: (conversation, message), or None when the
        store holds it already (the relay dedupes; this guards a replayed log with new
        event ids)."""
        conversation_id = self._conversation(event)
        if self._by_platform_id(conversation_id, event.platform_id) is not None:
            return None
        if extras is not None:
            fields["extras"] = _ENCODER.encode(extras).decode()
        message_id = self._insert_message(
            conversation_id,
            platform_id=event.platform_id,
            timestamp_ms=event.timestamp_ms,
            **fields,
        )
        return conversation_id, message_id

    def _known_message(self, event: MessageDeleted | MessageEdited) -> tuple[int, int] | None:
        """The held (conversation, message) an edit or deletion names, else None."""
        conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
        if conversation_id is None:
            return None
        message_id = self._by_platform_id(conversation_id, event.message_id)
        return None if message_id is None else (conversation_id, message_id)

    # ---- customer messages ------------------------------------------------------------

    def _received(self, event: MessageReceived) -> None:
        extras = MessageExtras(
            quick_reply=event.quick_reply,
            story_url=event.story_url,
            story_id=event.story_id,
            location=event.location,
            contacts=event.contacts,
            referral=event.referral,
            forwarded=event.forwarded,
            callback_data=event.callback_data,
        )
        self._customer_message(
            event,
            extras,
            inbound=True,
            kind="message",
            text=event.text,
            attachments=_ENCODER.encode(event.attachments).decode(),
            reply_to=event.reply_to,
        )

    def _customer_message(
        self, event: PlatformEvent, extras: MessageExtras, *, inbound: bool, **fields: object
    ) -> None:
        """A message or postback from the customer; ``inbound`` when the assistant may
        read and answer it."""
        stored = self._new_message(
            event, extras, direction="in", author="customer", status="received", **fields
        )
        if stored is None:
            return
        conversation_id, message_id = stored
        self._customer_acted(conversation_id, event.platform, event.timestamp_ms, message=True)
        self.added(conversation_id, message_id, inbound=inbound)

    def _unsupported(self, event: Unsupported) -> None:
        """Shown as "a message that can't be shown here — open it in <platform>"."""
        # Not "inbound" for the assistant: there is nothing it could read and answer.
        self._customer_message(
            event,
            MessageExtras(unsupported=event.raw_type, open_in=event.platform),
            inbound=False,
            kind="message",
            text=event.text,
            reply_to=event.reply_to,
        )

    def _customer_changed(self, event: CustomerChanged) -> None:
        """The customer has a new platform id (new number): the thread carries on under it."""
        taken = self.conn.execute(
            "SELECT 1 FROM customers WHERE channel_id = ? AND platform_id = ?",
            (event.channel_id, event.new_id),
        ).fetchone()
        if taken is not None:
            return
        row = self.conn.execute(
            "UPDATE customers SET platform_id = ?, phone = COALESCE(?, phone), updated_at_ms = ?"
            " WHERE channel_id = ? AND platform_id = ? RETURNING id",
            (event.new_id, event.new_phone, self.now_ms, event.channel_id, event.customer.id),
        ).fetchone()
        if row is not None:
            conversation_id = self._existing_conversation(event.channel_id, event.new_id)
            if conversation_id is not None:
                self.changes.append(ConversationChanged(conversation_id=conversation_id))

    def _channel_alert(self, event: ChannelAlert) -> None:
        """The platform's notice about the channel, kept for its card (see the module's notes)."""
        words = alert_words(event)
        serious = event.level != "info"
        row = self.conn.execute(
            "UPDATE channels SET alert = ?, alert_level = ?, alert_at_ms = ?"
            " WHERE id = ? AND (alert_at_ms IS NULL OR alert_at_ms <= ?)"
            " AND (? OR alert_level IS NULL OR alert_level = 'info') RETURNING id",
            (
                words,
                event.level,
                event.timestamp_ms,
                event.channel_id,
                event.timestamp_ms,
                serious,
            ),
        ).fetchone()
        if row is not None:
            self.changes.append(ChannelsChanged(alert=words if serious else None))

    def _note(self, event: PlatformEvent, text: str) -> None:
        """A note from the platform in the conversation: not unread, not for the assistant."""
        stored = self._new_message(
            event, direction="in", author="platform", kind="note", text=text, status="received"
        )
        if stored is None:
            return
        conversation_id, message_id = stored
        # No follow_message: a note makes no pending draft stale.
        summarize(self.conn, conversation_id, self.now_ms)
        self.changes.append(
            MessageAdded(conversation_id=conversation_id, message_id=message_id, inbound=False)
        )
        self.changes.append(ConversationChanged(conversation_id=conversation_id))

    def _postback(self, event: Postback) -> None:
        extras = MessageExtras(
            postback_payload=event.payload, postback_source=event.source, referral=event.referral
        )
        self._customer_message(
            event, extras, inbound=True, kind="postback", text=event.title or event.payload
        )

    def added(self, conversation_id: int, message_id: int, *, inbound: bool) -> None:
        self.changes.extend(follow_message(self.conn, conversation_id, message_id, self.now_ms))
        summarize(self.conn, conversation_id, self.now_ms)
        self.changes.append(
            MessageAdded(conversation_id=conversation_id, message_id=message_id, inbound=inbound)
        )
        self.changes.append(ConversationChanged(conversation_id=conversation_id))

    def _reaction(self, event: Reaction) -> None:
        conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
        if conversation_id is None:
            return
        self._customer_acted(conversation_id, event.platform, event.timestamp_ms, message=False)
        message_id = self._by_platform_id(conversation_id, event.message_id)
        if message_id is not None:
            emoji = event.emoji if event.action == "react" else None
            self.conn.execute(
                "UPDATE messages SET reaction = ?, updated_at_ms = ? WHERE id = ?",
                (emoji, self.now_ms, message_id),
            )
        self.touched(conversation_id, message_id)

    def _deleted(self, event: MessageDeleted) -> None:
        known = self._known_message(event)
        if known is None:
            return
        conversation_id, message_id = known
        self.conn.execute(
            "UPDATE messages SET deleted = 1, text = NULL, attachments = '[]', extras = '{}',"
            " updated_at_ms = ? WHERE id = ?",
            (self.now_ms, message_id),
        )
        self.touched(conversation_id, message_id)

    def _edited(self, event: MessageEdited) -> None:
        known = self._known_message(event)
        if known is None:
            return
        conversation_id, message_id = known
        # An edit to media (WhatsApp) brings the new media; a text edit keeps the old.
        media = _ENCODER.encode(event.attachments).decode() if event.attachments else None
        self.conn.execute(
            "UPDATE messages SET text = ?, attachments = COALESCE(?, attachments),"
            " edited_at_ms = ?, updated_at_ms = ? WHERE id = ?",
            (event.text, media, event.timestamp_ms, self.now_ms, message_id),
        )
        self.touched(conversation_id, message_id)

    def _subscription(self, event: Subscription) -> None:
        subscribed = {"subscribed": True, "unsubscribed": False}.get(event.action, event.subscribed)
        if event.action == "unsubscribed":
            conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
            if conversation_id is None:
                return
        else:
            # The customer opened the chat or subscribed: show them, with no message yet.
            conversation_id = self._conversation(event)
        if subscribed is not None:
            self.conn.execute(
                "UPDATE customers SET subscribed = ?, updated_at_ms = ?"
                " WHERE channel_id = ? AND platform_id = ?",
                (subscribed, self.now_ms, event.channel_id, event.customer.id),
            )
        self.changes.append(ConversationChanged(conversation_id=conversation_id))

    # ---- the business's messages -----------------------------------------------------

    def _echo(self, event: MessageEcho) -> None:
        stored = self._new_message(
            event,
            MessageExtras(app_id=event.app_id),
            direction="out",
            author="elsewhere",
            kind="message",
            text=event.text,
            attachments=_ENCODER.encode(event.attachments).decode(),
            status="sent",
        )
        if stored is None:
            return  # our own send (or an echo seen before)
        conversation_id, message_id = stored
        # The owner answered from the platform's app: the assistant steps back.
        self.conn.execute(
            "UPDATE conversations SET assistant_paused = 1, paused_reason = 'echo',"
            " paused_by_message_id = ? WHERE id = ?",
            (message_id, conversation_id),
        )
        self.business_replied(conversation_id, seen=True)
        self.added(conversation_id, message_id, inbound=False)

    def _send_row(self, idempotency_key: str | None, send_id: str) -> int | None:
        """The row of the reply a send event is about (an event older than the key
        carries only the relay's send id, which the relay's answer left on the row)."""
        if idempotency_key is not None:
            row = self.conn.execute(
                "SELECT id FROM messages WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT id FROM messages WHERE send_id = ?", (send_id,)
            ).fetchone()
        return int(row[0]) if row else None

    def _sent(self, event: MessageSent) -> None:
        conversation_id = self._conversation(event)
        message_id = self._send_row(event.idempotency_key, event.send_id)
        new = message_id is None
        if message_id is None:
            # Another device's reply: this device learns of it only now.
            message_id = self._insert_message(
                conversation_id,
                direction="out",
                author="server"
                if event.sent_by == "server"
                else "assistant"
                if event.automatic
                else "owner",
                kind="message",
                text=event.text,
                status="sent",
                send_id=event.send_id,
                idempotency_key=event.idempotency_key,
                automatic=event.automatic,
                device_id=event.device_id,
                reply_to=event.reply_to,
                timestamp_ms=event.timestamp_ms,
            )
        self.settle_sent(
            conversation_id,
            message_id,
            send_id=event.send_id,
            platform_id=event.platform_id,
            tag=event.tag,
            timestamp_ms=event.timestamp_ms,
            seen=not event.automatic,
            new=new,
        )

    def settle_sent(
        self,
        conversation_id: int,
        message_id: int,
        *,
        send_id: str,
        platform_id: str | None,
        tag: str | None,
        timestamp_ms: int | None,
        seen: bool,
        new: bool = False,
    ) -> None:
        """Mark a reply sent, folding in the platform's echo of it if that came first (by
        platform id), or a row an event older than the key made for it (by send id)."""
        status = "sent"
        twins = self.conn.execute(
            "SELECT id, status, platform_id, timestamp_ms FROM messages"
            " WHERE conversation_id = ? AND id != ?"
            " AND (send_id = ? OR (author = 'elsewhere' AND platform_id = ?))",
            (conversation_id, message_id, send_id, platform_id),
        ).fetchall()
        for twin_id, twin_status, twin_platform_id, twin_timestamp_ms in twins:
            if STATUS_RANK.get(twin_status, 0) > STATUS_RANK[status]:
                status = twin_status
            platform_id = platform_id or twin_platform_id
            timestamp_ms = timestamp_ms or twin_timestamp_ms
            # The echo was this reply after all, not the owner writing elsewhere.
            self.conn.execute(
                "UPDATE conversations SET assistant_paused = 0, paused_reason = NULL,"
                " paused_by_message_id = NULL"
                " WHERE id = ? AND paused_by_message_id = ? AND paused_reason = 'echo'",
                (conversation_id, twin_id),
            )
            self.conn.execute("DELETE FROM messages WHERE id = ?", (twin_id,))
        self.conn.execute(
            "UPDATE messages SET send_id = ?, platform_id = COALESCE(?, platform_id),"
            " tag = COALESCE(?, tag),"
            " status = CASE WHEN status IN ('delivered', 'read') THEN status ELSE ? END,"
            " error_code = NULL, error_message = NULL, next_attempt_ms = NULL,"
            " timestamp_ms = COALESCE(?, timestamp_ms), updated_at_ms = ? WHERE id = ?",
            (send_id, platform_id, tag, status, timestamp_ms, self.now_ms, message_id),
        )
        self.draft_sent(conversation_id, message_id)
        self.business_replied(conversation_id, seen=seen)
        if new:
            self.added(conversation_id, message_id, inbound=False)
        else:
            self.touched(conversation_id, message_id)

    def draft_sent(self, conversation_id: int, message_id: int) -> None:
        row = self.conn.execute(
            "UPDATE drafts SET state = 'sent', updated_at_ms = ?"
            " WHERE id = (SELECT draft_id FROM messages WHERE id = ?) AND state != 'sent'"
            " RETURNING id",
            (self.now_ms, message_id),
        ).fetchone()
        if row is not None:
            self.changes.append(DraftChanged(conversation_id=conversation_id, draft_id=row[0]))

    def _send_failed(self, event: SendFailed) -> None:
        message_id = self._send_row(event.idempotency_key, event.send_id)
        if message_id is None:
            if event.device_id is not None and event.device_id == self.own_device_id:
                return  # ours, queued again since under a new key (or erased)
            # Another device's reply failed; its text never reached us.
            conversation_id = self._conversation(event)
            message_id = self._insert_message(
                conversation_id,
                direction="out",
                author="owner",
                kind="message",
                status="failed",
                send_id=event.send_id,
                idempotency_key=event.idempotency_key,
                device_id=event.device_id,
                error_code=event.error,
                error_message=event.message,
                timestamp_ms=event.timestamp_ms,
            )
            self.added(conversation_id, message_id, inbound=False)
            return
        conversation_id = self._conversation(event)
        self.conn.execute(
            "UPDATE messages SET send_id = ?, status = 'failed', error_code = ?,"
            " error_message = ?, next_attempt_ms = NULL, updated_at_ms = ? WHERE id = ?",
            (event.send_id, event.error, event.message, self.now_ms, message_id),
        )
        self.touched(conversation_id, message_id)

    def _status(self, event: Status) -> None:
        conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
        if conversation_id is None:
            return
        if event.status == "failed":
            detail = (
                "; ".join(
                    part for error in event.errors for part in (error.title, error.detail) if part
                )
                or "The platform could not deliver this message."
            )
            code = f"platform_{event.errors[0].code}" if event.errors else "delivery_failed"
            changed = [
                int(r[0])
                for platform_id in event.message_ids
                for r in self.conn.execute(
                    "UPDATE messages SET status = 'failed', error_code = ?, error_message = ?,"
                    " updated_at_ms = ? WHERE conversation_id = ? AND platform_id = ?"
                    " AND direction = 'out' AND status NOT IN ('delivered', 'read')"
                    " RETURNING id",
                    (code, detail, self.now_ms, conversation_id, platform_id),
                ).fetchall()
            ]
        else:
            status = "read" if event.status == "played" else event.status
            below = [s for s, rank in STATUS_RANK.items() if 2 <= rank < STATUS_RANK[status]]
            if not below:
                return
            marks = ", ".join("?" * len(below))
            changed = [
                int(r[0])
                for platform_id in event.message_ids
                for r in self.conn.execute(
                    "UPDATE messages SET status = ?, updated_at_ms = ?"
                    " WHERE conversation_id = ? AND platform_id = ? AND direction = 'out'"
                    f" AND status IN ({marks}) RETURNING id",
                    (status, self.now_ms, conversation_id, platform_id, *below),
                ).fetchall()
            ]
            if event.watermark_ms is not None:
                changed += [
                    int(r[0])
                    for r in self.conn.execute(
                        "UPDATE messages SET status = ?, updated_at_ms = ?"
                        " WHERE conversation_id = ? AND direction = 'out'"
                        f" AND timestamp_ms <= ? AND status IN ({marks}) RETURNING id",
                        (status, self.now_ms, conversation_id, event.watermark_ms, *below),
                    ).fetchall()
                ]
        if not changed:
            return
        summarize(self.conn, conversation_id, self.now_ms)
        for message_id in dict.fromkeys(changed):
            self.changes.append(
                MessageUpdated(conversation_id=conversation_id, message_id=message_id)
            )
        self.changes.append(ConversationChanged(conversation_id=conversation_id))

    # ---- business-wide events -----------------------------------------------------------

    def _channel(self, event: ChannelChanged) -> None:
        self.conn.execute(
            "INSERT INTO channels (id, platform, name, status, detail, updated_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " platform = excluded.platform, name = COALESCE(excluded.name, name),"
            " status = excluded.status, detail = excluded.detail,"
            " updated_at_ms = excluded.updated_at_ms",
            (
                event.channel_id,
                event.platform,
                event.name,
                event.status,
                event.detail,
                event.timestamp_ms,
            ),
        )
        self.changes.append(ChannelsChanged())

    def _erased(self, event: CustomerErased) -> None:
        # The relay names the customer by a hash of "channel:customer" (it keeps no ids).
        row = self.conn.execute(
            "SELECT cu.id, c.id FROM customers cu LEFT JOIN conversations c"
            " ON c.customer_id = cu.id WHERE cu.channel_id = ? AND (cu.platform_id = ?"
            " OR customer_hash(cu.channel_id, cu.platform_id) = ?)",
            (event.channel_id, event.customer_id, event.customer_hash),
        ).fetchone()
        counts = {"customer": 0, "messages": 0, "drafts": 0}
        if row is not None:
            customer_id, conversation_id = row
            counts["customer"] = 1
            if conversation_id is not None:
                draft_ids = [
                    int(r[0])
                    for r in self.conn.execute(
                        "SELECT id FROM drafts WHERE conversation_id = ?", (conversation_id,)
                    )
                ]
                counts["drafts"] = len(draft_ids)
                counts["messages"] = self.conn.execute(
                    "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
                ).fetchone()[0]
                # Cascades: conversation, messages (and their search entries), drafts, labels.
                self.conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                self.changes.extend(
                    DraftChanged(conversation_id=conversation_id, draft_id=d) for d in draft_ids
                )
                self.changes.append(ConversationRemoved(conversation_id=conversation_id))
            self.conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
            self.erased = True
        if event.request_id:
            self.conn.execute(
                "INSERT OR IGNORE INTO erasure_confirmations (request_id, counts, created_at_ms)"
                " VALUES (?, ?, ?)",
                (event.request_id, _ENCODER.encode(counts).decode(), self.now_ms),
            )
            self.changes.append(ErasureApplied(request_id=event.request_id))

    def _usage(self, event: UsageWarning) -> None:
        self.conn.execute(
            'INSERT INTO usage_notices (metric, used, "limit", share, resets_on, timestamp_ms)'
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (metric) DO UPDATE SET"
            ' used = excluded.used, "limit" = excluded."limit", share = excluded.share,'
            " resets_on = excluded.resets_on, timestamp_ms = excluded.timestamp_ms"
            " WHERE excluded.timestamp_ms >= usage_notices.timestamp_ms",
            (
                event.metric,
                event.used,
                event.limit,
                event.share,
                event.resets_on,
                event.timestamp_ms,
            ),
        )
        self.changes.append(UsageChanged(metric=event.metric))
