"""Stream events written into the store: one function per event kind, inside a transaction.

Decisions the protocol leaves open:

* Every customer action the relay counts for the messaging window (message, postback,
  reaction) moves ``last_inbound_ms``; only messages and postbacks count as unread and
  reopen a resolved or snoozed conversation.
* Receipts, reactions, edits and deletions name a message by its platform id; one that
  names a message or conversation this store does not hold is dropped (it cannot be shown).
* A customer's deletion of a message ("unsend") clears its text and attachments here too.
* Our own sends come back twice: as ``MessageSent`` from the relay and (Messenger,
  Instagram, WhatsApp) as an echo from the platform. Whichever comes second is merged into
  the first by platform id; an echo that no send claims is the owner writing from the
  platform's own app, which pauses the assistant in that conversation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

import msgspec

from common.channels import Platform, window_deadline_ms
from common.events import (
    ChannelChanged,
    CustomerErased,
    Event,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    MessageSent,
    PlatformEvent,
    Postback,
    Reaction,
    SendFailed,
    Status,
    Subscription,
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

__all__ = ["STATUS_RANK", "EventWriter", "preview", "summarize"]

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
        self._handlers: dict[type, Callable[[Event], None]] = {
            MessageReceived: self._received,  # type: ignore[dict-item]
            Postback: self._postback,  # type: ignore[dict-item]
            Reaction: self._reaction,  # type: ignore[dict-item]
            MessageEcho: self._echo,  # type: ignore[dict-item]
            MessageDeleted: self._deleted,  # type: ignore[dict-item]
            MessageEdited: self._edited,  # type: ignore[dict-item]
            Status: self._status,  # type: ignore[dict-item]
            Subscription: self._subscription,  # type: ignore[dict-item]
            MessageSent: self._sent,  # type: ignore[dict-item]
            SendFailed: self._send_failed,  # type: ignore[dict-item]
            ChannelChanged: self._channel,  # type: ignore[dict-item]
            CustomerErased: self._erased,  # type: ignore[dict-item]
            UsageWarning: self._usage,  # type: ignore[dict-item]
        }

    def apply(self, event: Event) -> None:
        self._handlers[type(event)](event)

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

    # ---- customer messages ------------------------------------------------------------

    def _received(self, event: MessageReceived) -> None:
        conversation_id = self._conversation(event)
        if self._by_platform_id(conversation_id, event.platform_id) is not None:
            return  # the relay dedupes; this guards a replayed log with new event ids
        extras = MessageExtras(
            quick_reply=event.quick_reply,
            story_url=event.story_url,
            story_id=event.story_id,
            location=event.location,
            contacts=event.contacts,
            referral=event.referral,
            forwarded=event.forwarded,
            unsupported=event.unsupported,
        )
        message_id = self._insert_message(
            conversation_id,
            direction="in",
            author="customer",
            kind="message",
            platform_id=event.platform_id,
            text=event.text,
            attachments=_ENCODER.encode(event.attachments).decode(),
            extras=_ENCODER.encode(extras).decode(),
            status="received",
            reply_to=event.reply_to,
            timestamp_ms=event.timestamp_ms,
        )
        self._customer_acted(conversation_id, event.platform, event.timestamp_ms, message=True)
        self.added(conversation_id, message_id, inbound=True)

    def _postback(self, event: Postback) -> None:
        conversation_id = self._conversation(event)
        if self._by_platform_id(conversation_id, event.platform_id) is not None:
            return
        extras = MessageExtras(
            postback_payload=event.payload, postback_source=event.source, referral=event.referral
        )
        message_id = self._insert_message(
            conversation_id,
            direction="in",
            author="customer",
            kind="postback",
            platform_id=event.platform_id,
            text=event.title or event.payload,
            extras=_ENCODER.encode(extras).decode(),
            status="received",
            timestamp_ms=event.timestamp_ms,
        )
        self._customer_acted(conversation_id, event.platform, event.timestamp_ms, message=True)
        self.added(conversation_id, message_id, inbound=True)

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
        conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
        if conversation_id is None:
            return
        message_id = self._by_platform_id(conversation_id, event.message_id)
        if message_id is None:
            return
        self.conn.execute(
            "UPDATE messages SET deleted = 1, text = NULL, attachments = '[]', extras = '{}',"
            " updated_at_ms = ? WHERE id = ?",
            (self.now_ms, message_id),
        )
        self.touched(conversation_id, message_id)

    def _edited(self, event: MessageEdited) -> None:
        conversation_id = self._existing_conversation(event.channel_id, event.customer.id)
        if conversation_id is None:
            return
        message_id = self._by_platform_id(conversation_id, event.message_id)
        if message_id is None:
            return
        self.conn.execute(
            "UPDATE messages SET text = ?, edited_at_ms = ?, updated_at_ms = ? WHERE id = ?",
            (event.text, event.timestamp_ms, self.now_ms, message_id),
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
        conversation_id = self._conversation(event)
        if self._by_platform_id(conversation_id, event.platform_id) is not None:
            return  # our own send (or an echo seen before)
        extras = MessageExtras(app_id=event.app_id)
        message_id = self._insert_message(
            conversation_id,
            direction="out",
            author="elsewhere",
            kind="message",
            platform_id=event.platform_id,
            text=event.text,
            attachments=_ENCODER.encode(event.attachments).decode(),
            extras=_ENCODER.encode(extras).decode(),
            status="sent",
            timestamp_ms=event.timestamp_ms,
        )
        # The owner answered from the platform's app: the assistant steps back.
        self.conn.execute(
            "UPDATE conversations SET assistant_paused = 1, paused_reason = 'echo',"
            " paused_by_message_id = ? WHERE id = ?",
            (message_id, conversation_id),
        )
        self.business_replied(conversation_id, seen=True)
        self.added(conversation_id, message_id, inbound=False)

    def _own_unsent(
        self,
        conversation_id: int,
        statuses: tuple[str, ...],
        extra: str = "",
        params: tuple[object, ...] = (),
    ) -> int | None:
        marks = ", ".join("?" * len(statuses))
        row = self.conn.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'out'"
            f" AND send_id IS NULL AND status IN ({marks}){extra} ORDER BY id LIMIT 1",
            (conversation_id, *statuses, *params),
        ).fetchone()
        return int(row[0]) if row else None

    def _sent(self, event: MessageSent) -> None:
        conversation_id = self._conversation(event)
        row = self.conn.execute(
            "SELECT id FROM messages WHERE send_id = ?", (event.send_id,)
        ).fetchone()
        message_id = int(row[0]) if row else None
        if message_id is None:
            echo_id = self._by_platform_id(conversation_id, event.platform_id)
            if echo_id is not None:
                message_id = echo_id
                # The echo came first; it was our send after all, not the owner elsewhere.
                self.conn.execute(
                    "UPDATE conversations SET assistant_paused = 0, paused_reason = NULL,"
                    " paused_by_message_id = NULL"
                    " WHERE id = ? AND paused_by_message_id = ? AND paused_reason = 'echo'",
                    (conversation_id, echo_id),
                )
        if message_id is None and event.device_id and event.device_id == self.own_device_id:
            # The event outran the relay's answer to our request: match the oldest unsent
            # row with this text (the outbox sends in order).
            message_id = self._own_unsent(
                conversation_id, ("sending", "queued"), " AND text = ?", (event.text,)
            )
        author = "assistant" if event.automatic else "owner"
        if message_id is None:
            message_id = self._insert_message(
                conversation_id,
                direction="out",
                author=author,
                kind="message",
                platform_id=event.platform_id,
                text=event.text,
                status="sent",
                send_id=event.send_id,
                automatic=event.automatic,
                device_id=event.device_id,
                tag=event.tag,
                reply_to=event.reply_to,
                timestamp_ms=event.timestamp_ms,
            )
            self.business_replied(conversation_id, seen=not event.automatic)
            self.added(conversation_id, message_id, inbound=False)
            return
        self.conn.execute(
            "UPDATE messages SET send_id = ?, platform_id = COALESCE(?, platform_id),"
            " author = CASE author WHEN 'elsewhere' THEN ? ELSE author END,"
            " automatic = ?, device_id = COALESCE(device_id, ?), tag = ?,"
            " status = CASE WHEN status IN ('delivered', 'read') THEN status ELSE 'sent' END,"
            " error_code = NULL, error_message = NULL, next_attempt_ms = NULL,"
            " timestamp_ms = ?, updated_at_ms = ? WHERE id = ?",
            (
                event.send_id,
                event.platform_id,
                author,
                event.automatic,
                event.device_id,
                event.tag,
                event.timestamp_ms,
                self.now_ms,
                message_id,
            ),
        )
        self.draft_sent(conversation_id, message_id)
        self.business_replied(conversation_id, seen=not event.automatic)
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
        conversation_id = self._conversation(event)
        row = self.conn.execute(
            "SELECT id FROM messages WHERE send_id = ?", (event.send_id,)
        ).fetchone()
        message_id = int(row[0]) if row else None
        if message_id is None and event.device_id and event.device_id == self.own_device_id:
            # Ours: either still waiting for the relay's answer, or already marked failed
            # from that answer (which carries no send id).
            message_id = self._own_unsent(conversation_id, ("sending", "queued"))
            if message_id is None:
                message_id = self._own_unsent(
                    conversation_id, ("failed",), " AND error_code = ?", (event.error,)
                )
        if message_id is None:
            # Another device's reply failed; its text never reached us.
            message_id = self._insert_message(
                conversation_id,
                direction="out",
                author="owner",
                kind="message",
                status="failed",
                send_id=event.send_id,
                device_id=event.device_id,
                error_code=event.error,
                error_message=event.message,
                timestamp_ms=event.timestamp_ms,
            )
            self.added(conversation_id, message_id, inbound=False)
            return
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
            " OR sha256_hex(cu.channel_id || ':' || cu.platform_id) = ?)",
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
