"""Drafts the assistant proposes: add (superseding older ones), edit, discard."""

from __future__ import annotations

import sqlite3
from typing import Final

import msgspec

from .changes import Change, ConversationChanged, DraftChanged
from .conversations import UnknownConversation
from .models import NewDraft

__all__ = [
    "ANSWERED_BY_HAND",
    "NEWER_MESSAGE",
    "SAME_TEXT_SENT",
    "DraftNotPending",
    "add_draft",
    "discard_draft",
    "edit_draft",
    "follow_message",
]

#: Why a pending draft is withdrawn (shown to the owner).
ANSWERED_BY_HAND: Final = "You answered this customer yourself."
NEWER_MESSAGE: Final = "The customer wrote again; a new suggestion follows."
SAME_TEXT_SENT: Final = "The assistant already sent this message."

_ENCODER: Final = msgspec.json.Encoder()


class DraftNotPending(LookupError):
    """The draft does not exist or is no longer pending (approved, sent, discarded...)."""


def add_draft(conn: sqlite3.Connection, new: NewDraft, now_ms: int) -> tuple[int, list[Change]]:
    """Store a pending draft; the conversation's older pending drafts become superseded."""
    if (
        conn.execute("SELECT 1 FROM conversations WHERE id = ?", (new.conversation_id,)).fetchone()
        is None
    ):
        raise UnknownConversation(new.conversation_id)
    state = "shadow" if new.shadow else "pending"
    superseded = conn.execute(
        "UPDATE drafts SET state = 'superseded', updated_at_ms = ?"
        " WHERE conversation_id = ? AND state = ? RETURNING id",
        (now_ms, new.conversation_id, state),
    ).fetchall()
    row = conn.execute(
        "INSERT INTO drafts (conversation_id, for_message_id, text, language, cited_chunk_ids,"
        " confidence, grounded, handoff, handoff_reason, hold_reason, state, drafter, model,"
        " error, prompt_tokens, completion_tokens, cost_usd, created_at_ms, updated_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            new.conversation_id,
            new.for_message_id,
            new.text,
            new.language,
            _ENCODER.encode(new.cited_chunk_ids).decode(),
            new.confidence,
            new.grounded,
            new.handoff,
            new.handoff_reason,
            new.hold_reason,
            state,
            new.drafter,
            new.model,
            new.error,
            new.prompt_tokens,
            new.completion_tokens,
            new.cost_usd,
            now_ms,
            now_ms,
        ),
    ).fetchone()
    draft_id = int(row[0])
    changes: list[Change] = [
        DraftChanged(conversation_id=new.conversation_id, draft_id=int(r[0])) for r in superseded
    ]
    changes.append(DraftChanged(conversation_id=new.conversation_id, draft_id=draft_id))
    changes.append(ConversationChanged(conversation_id=new.conversation_id))
    return draft_id, changes


def _pending(conn: sqlite3.Connection, draft_id: int) -> int:
    row = conn.execute(
        "SELECT conversation_id FROM drafts WHERE id = ? AND state = 'pending'", (draft_id,)
    ).fetchone()
    if row is None:
        raise DraftNotPending(draft_id)
    return int(row[0])


def edit_draft(conn: sqlite3.Connection, draft_id: int, text: str, now_ms: int) -> list[Change]:
    """Save the owner's edit of a pending draft's text."""
    conversation_id = _pending(conn, draft_id)
    conn.execute(
        "UPDATE drafts SET text = ?, updated_at_ms = ? WHERE id = ?", (text, now_ms, draft_id)
    )
    return [DraftChanged(conversation_id=conversation_id, draft_id=draft_id)]


def discard_draft(conn: sqlite3.Connection, draft_id: int, now_ms: int) -> list[Change]:
    conversation_id = _pending(conn, draft_id)
    conn.execute(
        "UPDATE drafts SET state = 'discarded', updated_at_ms = ? WHERE id = ?",
        (now_ms, draft_id),
    )
    return [
        DraftChanged(conversation_id=conversation_id, draft_id=draft_id),
        ConversationChanged(conversation_id=conversation_id),
    ]


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def follow_message(
    conn: sqlite3.Connection, conversation_id: int, message_id: int, now_ms: int
) -> list[Change]:
    """A message was stored: withdraw pending drafts it makes stale, with the reason.

    A newer customer message supersedes a draft made for an older one; a reply written by
    a person (here, on another computer, or in the platform's own app) replaces any draft;
    an automatic message with the draft's very text means approving would send it twice
    (a hand-off keeps its place in the queue, without the words already sent).
    A reply that *is* the draft (approved or sent on its own) is not this case.
    """
    row = conn.execute(
        "SELECT direction, automatic, draft_id, text FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return []
    direction, automatic, draft_id, text = row
    pending = conn.execute(
        "SELECT id, for_message_id, text, handoff FROM drafts"
        " WHERE conversation_id = ? AND state = 'pending'",
        (conversation_id,),
    ).fetchall()
    withdrawn: list[tuple[int, str]] = []
    emptied: list[int] = []
    for pending_id, for_message_id, draft_text, handoff in pending:
        if direction == "in":
            if for_message_id is not None and for_message_id < message_id:
                withdrawn.append((pending_id, NEWER_MESSAGE))
        elif draft_id is not None:
            continue  # the draft itself (or another) going out: its state says so
        elif not automatic:
            withdrawn.append((pending_id, ANSWERED_BY_HAND))
        elif text and draft_text and _normal(text) == _normal(draft_text):
            # A hand-off still needs a person: it stays in the queue with its words taken
            # back (the owner writes the answer); any other draft is withdrawn.
            if handoff:
                emptied.append(pending_id)
            else:
                withdrawn.append((pending_id, SAME_TEXT_SENT))
    changes: list[Change] = []
    for pending_id, reason in withdrawn:
        conn.execute(
            "UPDATE drafts SET state = 'superseded', withdrawn_reason = ?, updated_at_ms = ?"
            " WHERE id = ? AND state = 'pending'",
            (reason, now_ms, pending_id),
        )
        changes.append(DraftChanged(conversation_id=conversation_id, draft_id=pending_id))
    for pending_id in emptied:
        conn.execute(
            "UPDATE drafts SET text = '', withdrawn_reason = ?, updated_at_ms = ? WHERE id = ?",
            (SAME_TEXT_SENT, now_ms, pending_id),
        )
        changes.append(DraftChanged(conversation_id=conversation_id, draft_id=pending_id))
    if changes:
        changes.append(ConversationChanged(conversation_id=conversation_id))
    return changes
