"""Outbound message rows through their life: queued, sending, sent or failed.

A reply is written here (status ``queued``, with its idempotency key) before any attempt
to send it, so it survives a crash or an offline relay; ``desktop.core.outbox`` moves it on.
"""

from __future__ import annotations

import sqlite3

from .changes import Change, DraftChanged
from .conversations import UnknownConversation
from .drafts import DraftNotPending
from .events import EventWriter
from .models import Author

__all__ = [
    "UNKNOWN_OUTCOME",
    "NotRequeueable",
    "confirm_delivered",
    "mark_sending",
    "queue_outbound",
    "record_failed",
    "record_retry",
    "record_sent",
    "requeue",
]


class NotRequeueable(LookupError):
    """Only a failed outbound message can be queued again (or, when its outcome is
    unknown, be confirmed as delivered)."""


#: The relay lost track of a send mid-way: the reply may or may not have arrived.
UNKNOWN_OUTCOME = "outcome_unknown"


def queue_outbound(
    conn: sqlite3.Connection,
    *,
    conversation_id: int,
    text: str,
    idempotency_key: str,
    author: Author,
    automatic: bool,
    draft_id: int | None,
    reply_to: str | None,
    in_reply_to_id: int | None,
    device_id: str | None,
    now_ms: int,
) -> tuple[int, list[Change]]:
    """Write a reply as queued; approving a draft links it, a hand-written reply pauses."""
    if (
        conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        is None
    ):
        raise UnknownConversation(conversation_id)
    writer = EventWriter(conn, device_id, now_ms)
    row = conn.execute(
        "INSERT INTO messages (conversation_id, direction, author, kind, text, status,"
        " idempotency_key, automatic, device_id, reply_to, in_reply_to_id, draft_id,"
        " timestamp_ms, created_at_ms, updated_at_ms)"
        " VALUES (?, 'out', ?, 'message', ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            conversation_id,
            author,
            text,
            idempotency_key,
            automatic,
            device_id,
            reply_to,
            in_reply_to_id,
            draft_id,
            now_ms,
            now_ms,
            now_ms,
        ),
    ).fetchone()
    message_id = int(row[0])
    if draft_id is not None:
        approved = conn.execute(
            "UPDATE drafts SET state = 'approved', message_id = ?, updated_at_ms = ?"
            " WHERE id = ? AND conversation_id = ? AND state = 'pending'",
            (message_id, now_ms, draft_id, conversation_id),
        )
        if approved.rowcount == 0:
            raise DraftNotPending(draft_id)
        writer.changes.append(DraftChanged(conversation_id=conversation_id, draft_id=draft_id))
    if not automatic:
        conn.execute("UPDATE conversations SET unread = 0 WHERE id = ?", (conversation_id,))
    if author == "owner" and draft_id is None and not automatic:
        # The owner wrote this by hand: the assistant steps back until handed the reins.
        conn.execute(
            "UPDATE conversations SET assistant_paused = 1, paused_reason = 'owner_reply',"
            " paused_by_message_id = ? WHERE id = ?",
            (message_id, conversation_id),
        )
    writer.added(conversation_id, message_id, inbound=False)
    return message_id, writer.changes


def _conversation_of(conn: sqlite3.Connection, message_id: int) -> int | None:
    row = conn.execute(
        "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    return int(row[0]) if row else None


def mark_sending(conn: sqlite3.Connection, message_id: int, now_ms: int) -> bool:
    """Mark a queued message as being sent; False if it is no longer waiting to go."""
    cursor = conn.execute(
        "UPDATE messages SET status = 'sending', updated_at_ms = ?"
        " WHERE id = ? AND status IN ('queued', 'sending')",
        (now_ms, message_id),
    )
    return cursor.rowcount > 0


def record_sent(
    conn: sqlite3.Connection,
    message_id: int,
    *,
    send_id: str,
    platform_message_id: str | None,
    tag: str | None,
    now_ms: int,
) -> list[Change]:
    """The relay sent it (its answer to the request): settle the row, as the event would."""
    row = conn.execute(
        "SELECT conversation_id, automatic FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return []  # erased meanwhile
    writer = EventWriter(conn, None, now_ms)
    writer.settle_sent(
        int(row[0]),
        message_id,
        send_id=send_id,
        platform_id=platform_message_id,
        tag=tag,
        timestamp_ms=None,
        seen=not row[1],
    )
    return writer.changes


def record_retry(
    conn: sqlite3.Connection,
    message_id: int,
    *,
    code: str,
    message: str,
    next_attempt_ms: int,
    now_ms: int,
) -> list[Change]:
    """The send did not get through this time: back to queued, with the reason shown."""
    conversation_id = _conversation_of(conn, message_id)
    if conversation_id is None:
        return []
    cursor = conn.execute(
        "UPDATE messages SET status = 'queued', attempts = attempts + 1, error_code = ?,"
        " error_message = ?, next_attempt_ms = ?, updated_at_ms = ?"
        " WHERE id = ? AND status IN ('queued', 'sending')",
        (code, message, next_attempt_ms, now_ms, message_id),
    )
    if cursor.rowcount == 0:
        return []  # the stream already settled it
    writer = EventWriter(conn, None, now_ms)
    writer.touched(conversation_id, message_id)
    return writer.changes


def record_failed(
    conn: sqlite3.Connection, message_id: int, *, code: str, message: str, now_ms: int
) -> list[Change]:
    """The send failed for good: keep the message, marked failed with the reason."""
    conversation_id = _conversation_of(conn, message_id)
    if conversation_id is None:
        return []
    cursor = conn.execute(
        "UPDATE messages SET status = 'failed', error_code = ?, error_message = ?,"
        " next_attempt_ms = NULL, updated_at_ms = ?"
        " WHERE id = ? AND status IN ('queued', 'sending', 'failed')",
        (code, message, now_ms, message_id),
    )
    if cursor.rowcount == 0:
        return []
    writer = EventWriter(conn, None, now_ms)
    writer.touched(conversation_id, message_id)
    return writer.changes


def requeue(
    conn: sqlite3.Connection, message_id: int, idempotency_key: str, now_ms: int
) -> list[Change]:
    """Queue a failed message again under a new key (the old key's failure is final)."""
    return _settle_failed(
        conn,
        message_id,
        "status = 'queued', idempotency_key = ?, send_id = NULL, attempts = 0",
        (idempotency_key,),
        "text IS NOT NULL",
        (),
        now_ms,
    )


def confirm_delivered(conn: sqlite3.Connection, message_id: int, now_ms: int) -> list[Change]:
    """The owner saw that a reply of unknown outcome did reach the customer: it counts as
    sent from now on (no retry, which could make the customer read it twice)."""
    return _settle_failed(
        conn, message_id, "status = 'sent'", (), "error_code = ?", (UNKNOWN_OUTCOME,), now_ms
    )


def _settle_failed(
    conn: sqlite3.Connection,
    message_id: int,
    assignments: str,
    values: tuple[object, ...],
    condition: str,
    condition_values: tuple[object, ...],
    now_ms: int,
) -> list[Change]:
    """Move a failed outbound message on (its error cleared); NotRequeueable if it is not
    one, or ``condition`` does not hold."""
    conversation_id = _conversation_of(conn, message_id)
    cursor = conn.execute(
        f"UPDATE messages SET {assignments}, error_code = NULL, error_message = NULL,"
        " next_attempt_ms = NULL, updated_at_ms = ? WHERE id = ? AND status = 'failed'"
        f" AND direction = 'out' AND {condition}",
        (*values, now_ms, message_id, *condition_values),
    )
    if cursor.rowcount == 0 or conversation_id is None:
        raise NotRequeueable(message_id)
    writer = EventWriter(conn, None, now_ms)
    writer.touched(conversation_id, message_id)
    return writer.changes
