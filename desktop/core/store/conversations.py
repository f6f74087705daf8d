"""What the owner does to a conversation: read it, set its status, label, note, pause."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

import msgspec

from .changes import Change, ConversationChanged
from .models import CONVERSATION_STATUSES, ConversationStatus, PauseReason

__all__ = [
    "UnknownConversation",
    "mark_read",
    "pause_assistant",
    "resume_assistant",
    "set_labels",
    "set_notes",
    "set_status",
    "wake_snoozed",
]

_ENCODER: Final = msgspec.json.Encoder()


class UnknownConversation(LookupError):
    """The conversation does not exist (it may have been erased)."""


def _update(
    conn: sqlite3.Connection, conversation_id: int, sql: str, params: tuple[object, ...]
) -> list[Change]:
    cursor = conn.execute(
        f"UPDATE conversations SET {sql} WHERE id = ?", (*params, conversation_id)
    )
    if cursor.rowcount == 0:
        raise UnknownConversation(conversation_id)
    return [ConversationChanged(conversation_id=conversation_id)]


def mark_read(conn: sqlite3.Connection, conversation_id: int, now_ms: int) -> list[Change]:
    return _update(conn, conversation_id, "unread = 0, updated_at_ms = ?", (now_ms,))


def set_status(
    conn: sqlite3.Connection,
    conversation_id: int,
    status: ConversationStatus,
    snoozed_until_ms: int | None,
    now_ms: int,
) -> list[Change]:
    """Set the status; resolving also hands the conversation back to the assistant."""
    if status not in CONVERSATION_STATUSES:
        raise ValueError(f"unknown conversation status {status!r}")
    if status == "snoozed" and snoozed_until_ms is None:
        raise ValueError("a snoozed conversation needs snoozed_until_ms")
    until = snoozed_until_ms if status == "snoozed" else None
    if status == "resolved":
        return _update(
            conn,
            conversation_id,
            "status = ?, snoozed_until_ms = NULL, assistant_paused = 0, paused_reason = NULL,"
            " paused_by_message_id = NULL, updated_at_ms = ?",
            (status, now_ms),
        )
    return _update(
        conn,
        conversation_id,
        "status = ?, snoozed_until_ms = ?, updated_at_ms = ?",
        (status, until, now_ms),
    )


def wake_snoozed(conn: sqlite3.Connection, now_ms: int) -> list[Change]:
    """Reopen snoozed conversations whose time has come."""
    rows = conn.execute(
        "UPDATE conversations SET status = 'open', snoozed_until_ms = NULL, updated_at_ms = ?"
        " WHERE status = 'snoozed' AND snoozed_until_ms <= ? RETURNING id",
        (now_ms, now_ms),
    ).fetchall()
    return [ConversationChanged(conversation_id=int(r[0])) for r in rows]


def set_labels(
    conn: sqlite3.Connection, conversation_id: int, labels: Iterable[str], now_ms: int
) -> list[Change]:
    clean = tuple(dict.fromkeys(label.strip() for label in labels if label.strip()))
    changes = _update(
        conn,
        conversation_id,
        "labels = ?, updated_at_ms = ?",
        (_ENCODER.encode(clean).decode(), now_ms),
    )
    conn.execute("DELETE FROM conversation_labels WHERE conversation_id = ?", (conversation_id,))
    conn.executemany(
        "INSERT INTO conversation_labels (label, conversation_id) VALUES (?, ?)",
        [(label, conversation_id) for label in clean],
    )
    return changes


def set_notes(
    conn: sqlite3.Connection, conversation_id: int, notes: str, now_ms: int
) -> list[Change]:
    return _update(conn, conversation_id, "notes = ?, updated_at_ms = ?", (notes, now_ms))


def pause_assistant(
    conn: sqlite3.Connection,
    conversation_id: int,
    reason: PauseReason,
    message_id: int | None,
    now_ms: int,
) -> list[Change]:
    return _update(
        conn,
        conversation_id,
        "assistant_paused = 1, paused_reason = ?, paused_by_message_id = ?, updated_at_ms = ?",
        (reason, message_id, now_ms),
    )


def resume_assistant(conn: sqlite3.Connection, conversation_id: int, now_ms: int) -> list[Change]:
    """Hand the conversation back to the assistant."""
    return _update(
        conn,
        conversation_id,
        "assistant_paused = 0, paused_reason = NULL, paused_by_message_id = NULL,"
        " updated_at_ms = ?",
        (now_ms,),
    )
