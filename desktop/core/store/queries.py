"""Read queries of the local store, returning typed rows (run on the reader thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final, cast

import msgspec

from common.events import Attachment

from .models import (
    Channel,
    Conversation,
    ConversationQuery,
    Customer,
    Draft,
    Message,
    MessageExtras,
    OutboxItem,
    UsageNotice,
)

__all__ = [
    "MESSAGE_COLUMNS",
    "channels",
    "conversation",
    "conversations",
    "customer",
    "draft",
    "drafts",
    "expiring",
    "fts_query",
    "list_conversations",
    "message",
    "message_row",
    "messages",
    "outbox_due",
    "pending_drafts",
    "usage_notices",
]

_LABELS: Final = msgspec.json.Decoder(tuple[str, ...])
_ATTACHMENTS: Final = msgspec.json.Decoder(tuple[Attachment, ...])
_EXTRAS: Final = msgspec.json.Decoder(MessageExtras)

_CONVERSATION_SELECT: Final = """
SELECT c.id, c.channel_id, ch.name, c.platform,
       cu.id, cu.platform_id, cu.name, cu.phone, cu.avatar_url, cu.subscribed,
       c.status, c.snoozed_until_ms, c.unread, c.labels, c.notes,
       c.assistant_paused, c.paused_reason, c.last_inbound_ms, c.window_deadline_ms,
       c.last_activity_ms, c.last_message_id, c.last_preview, c.last_direction, c.last_status,
       c.pending_drafts,
       c.created_at_ms,
       c.pending_handoffs,
       lm.automatic
FROM conversations c
JOIN customers cu ON cu.id = c.customer_id
LEFT JOIN channels ch ON ch.id = c.channel_id
LEFT JOIN messages lm ON lm.id = c.last_message_id
"""

MESSAGE_COLUMNS: Final = (
    "id, conversation_id, direction, author, kind, platform_id, text, attachments, extras,"
    " status, error_code, error_message, send_id, idempotency_key, automatic, device_id, tag,"
    " reply_to, in_reply_to_id, draft_id, reaction, deleted, edited_at_ms, attempts,"
    " next_attempt_ms, timestamp_ms, created_at_ms, updated_at_ms"
)

_DRAFT_COLUMNS: Final = (
    "id, conversation_id, for_message_id, text, language, cited_chunk_ids, confidence,"
    " grounded, handoff, handoff_reason, state, drafter, model, error, prompt_tokens,"
    " completion_tokens, cost_usd, message_id, created_at_ms, updated_at_ms, hold_reason,"
    " withdrawn_reason"
)


def _conversation_row(row: Sequence[Any]) -> Conversation:
    return Conversation(
        id=row[0],
        channel_id=row[1],
        channel_name=row[2],
        platform=row[3],
        customer=Customer(
            id=row[4],
            channel_id=row[1],
            platform=row[3],
            platform_id=row[5],
            name=row[6],
            phone=row[7],
            avatar_url=row[8],
            subscribed=None if row[9] is None else bool(row[9]),
        ),
        status=row[10],
        snoozed_until_ms=row[11],
        unread=row[12],
        labels=_LABELS.decode(row[13]) if row[13] != "[]" else (),
        notes=row[14],
        assistant_paused=bool(row[15]),
        paused_reason=row[16],
        last_inbound_ms=row[17],
        window_deadline_ms=row[18],
        last_activity_ms=row[19],
        last_message_id=row[20],
        last_message_preview=row[21],
        last_message_direction=row[22],
        last_message_status=row[23],
        has_pending_draft=bool(row[24]),
        created_at_ms=row[25],
        needs_person=bool(row[26]),
        last_message_automatic=bool(row[27]),
    )


def message_row(row: Sequence[Any]) -> Message:
    return Message(
        id=row[0],
        conversation_id=row[1],
        direction=row[2],
        author=row[3],
        kind=row[4],
        platform_id=row[5],
        text=row[6],
        attachments=_ATTACHMENTS.decode(row[7]),
        extras=_EXTRAS.decode(row[8]),
        status=row[9],
        error_code=row[10],
        error_message=row[11],
        send_id=row[12],
        idempotency_key=row[13],
        automatic=bool(row[14]),
        device_id=row[15],
        tag=row[16],
        reply_to=row[17],
        in_reply_to_id=row[18],
        draft_id=row[19],
        reaction=row[20],
        deleted=bool(row[21]),
        edited_at_ms=row[22],
        attempts=row[23],
        next_attempt_ms=row[24],
        timestamp_ms=row[25],
        created_at_ms=row[26],
        updated_at_ms=row[27],
    )


def _draft_row(row: Sequence[Any]) -> Draft:
    return Draft(
        id=row[0],
        conversation_id=row[1],
        for_message_id=row[2],
        text=row[3],
        language=row[4],
        cited_chunk_ids=_LABELS.decode(row[5]),
        confidence=row[6],
        grounded=bool(row[7]),
        handoff=bool(row[8]),
        handoff_reason=row[9],
        state=row[10],
        drafter=row[11],
        model=row[12],
        error=row[13],
        prompt_tokens=row[14],
        completion_tokens=row[15],
        cost_usd=row[16],
        message_id=row[17],
        created_at_ms=row[18],
        updated_at_ms=row[19],
        hold_reason=row[20],
        withdrawn_reason=row[21],
    )


def fts_query(text: str) -> str | None:
    """An FTS5 query matching every word of ``text`` as a prefix (None: no words)."""
    words = [w.replace('"', "") for w in text.split()]
    terms = [f'"{w}"*' for w in words if w]
    return " ".join(terms) if terms else None


def list_conversations(conn: sqlite3.Connection, query: ConversationQuery) -> list[Conversation]:
    where: list[str] = []
    params: list[object] = []
    if query.channel_id is not None:
        where.append("c.channel_id = ?")
        params.append(query.channel_id)
    if query.platform is not None:
        where.append("c.platform = ?")
        params.append(query.platform)
    if query.statuses:
        where.append(f"c.status IN ({', '.join('?' * len(query.statuses))})")
        params.extend(query.statuses)
    if query.label is not None:
        where.append("c.id IN (SELECT conversation_id FROM conversation_labels WHERE label = ?)")
        params.append(query.label)
    if query.unread_only:
        where.append("c.unread > 0")
    if query.pending_draft_only:
        where.append("c.pending_drafts > 0")
    text = (query.text or "").strip()
    if text:
        folded = text.casefold()
        clauses = [
            "instr(casefold(cu.name), ?) > 0",
            "instr(cu.phone, ?) > 0",
            "cu.platform_id = ?",
        ]
        params.extend([folded, text, text])
        match = fts_query(text)
        if match is not None:
            clauses.append(
                "c.id IN (SELECT m.conversation_id FROM message_search s"
                " JOIN messages m ON m.id = s.rowid WHERE message_search MATCH ?)"
            )
            params.append(match)
        where.append("(" + " OR ".join(clauses) + ")")
    sql = _CONVERSATION_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    if query.order == "window":
        sql += (
            " ORDER BY c.window_deadline_ms IS NULL, c.window_deadline_ms,"
            " c.last_activity_ms DESC, c.id DESC"
        )
    else:
        sql += " ORDER BY c.last_activity_ms DESC, c.id DESC"
    if query.limit is not None or query.offset:
        sql += " LIMIT ? OFFSET ?"
        params.extend([query.limit if query.limit is not None else -1, query.offset])
    return [_conversation_row(r) for r in conn.execute(sql, params)]


def conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation | None:
    row = conn.execute(_CONVERSATION_SELECT + " WHERE c.id = ?", (conversation_id,)).fetchone()
    return _conversation_row(row) if row else None


def conversations(conn: sqlite3.Connection, ids: Sequence[int]) -> list[Conversation]:
    """These conversations (missing ids are skipped), in the order asked."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    found = {
        r[0]: _conversation_row(r)
        for r in conn.execute(_CONVERSATION_SELECT + f" WHERE c.id IN ({marks})", list(ids))
    }
    return [found[i] for i in ids if i in found]


def expiring(
    conn: sqlite3.Connection, now_ms: int, needs_reply: bool, limit: int
) -> list[Conversation]:
    # A customer waiting on a channel without a reply window (Viber, web chat) waits
    # too: listed after those whose window closes, longest-waiting first.
    open_window = "(c.window_deadline_ms > ? OR c.window_deadline_ms IS NULL)"
    sql = _CONVERSATION_SELECT + f" WHERE {open_window} AND c.status != 'resolved'"
    if needs_reply:
        # Also a customer told "a person will answer you": the hand-off still waits.
        sql += " AND (c.last_direction = 'in' OR c.pending_drafts > 0)"
    else:
        sql += " AND c.window_deadline_ms IS NOT NULL"
    sql += " ORDER BY c.window_deadline_ms IS NULL, c.window_deadline_ms, c.last_inbound_ms LIMIT ?"
    return [_conversation_row(r) for r in conn.execute(sql, (now_ms, limit))]


def customer(conn: sqlite3.Connection, customer_id: int) -> Customer | None:
    row = conn.execute(
        "SELECT id, channel_id, platform, platform_id, name, phone, avatar_url, subscribed"
        " FROM customers WHERE id = ?",
        (customer_id,),
    ).fetchone()
    if row is None:
        return None
    return Customer(
        id=row[0],
        channel_id=row[1],
        platform=row[2],
        platform_id=row[3],
        name=row[4],
        phone=row[5],
        avatar_url=row[6],
        subscribed=None if row[7] is None else bool(row[7]),
    )


def messages(
    conn: sqlite3.Connection, conversation_id: int, limit: int, before_id: int | None
) -> list[Message]:
    """The newest ``limit`` messages (older than ``before_id`` if given), oldest first."""
    params: list[object] = [conversation_id]
    sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?"
    if before_id is not None:
        sql += " AND (timestamp_ms, id) < (SELECT timestamp_ms, id FROM messages WHERE id = ?)"
        params.append(before_id)
    sql += " ORDER BY timestamp_ms DESC, id DESC LIMIT ?"
    params.append(limit)
    rows = [message_row(r) for r in conn.execute(sql, params)]
    rows.reverse()
    return rows


def message(conn: sqlite3.Connection, message_id: int) -> Message | None:
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    return message_row(row) if row else None


def pending_drafts(conn: sqlite3.Connection, limit: int) -> list[Draft]:
    rows = conn.execute(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE state = 'pending'"
        " ORDER BY created_at_ms, id LIMIT ?",
        (limit,),
    )
    return [_draft_row(r) for r in rows]


def drafts(conn: sqlite3.Connection, conversation_id: int) -> list[Draft]:
    rows = conn.execute(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    )
    return [_draft_row(r) for r in rows]


def draft(conn: sqlite3.Connection, draft_id: int) -> Draft | None:
    row = conn.execute(f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE id = ?", (draft_id,)).fetchone()
    return _draft_row(row) if row else None


def channels(conn: sqlite3.Connection) -> list[Channel]:
    rows = conn.execute(
        "SELECT id, platform, name, status, detail, updated_at_ms, alert, alert_level,"
        " alert_at_ms FROM channels ORDER BY name, id"
    )
    return [
        Channel(
            id=r[0],
            platform=r[1],
            name=r[2],
            status=r[3],
            detail=r[4],
            updated_at_ms=r[5],
            alert=r[6],
            alert_level=r[7],
            alert_at_ms=r[8],
        )
        for r in rows
    ]


def usage_notices(conn: sqlite3.Connection) -> list[UsageNotice]:
    rows = conn.execute(
        'SELECT metric, used, "limit", share, resets_on, timestamp_ms FROM usage_notices'
        " ORDER BY share DESC"
    )
    return [
        UsageNotice(
            metric=r[0], used=r[1], limit=r[2], share=r[3], resets_on=r[4], timestamp_ms=r[5]
        )
        for r in rows
    ]


def outbox_due(conn: sqlite3.Connection, limit: int) -> list[OutboxItem]:
    """Queued (or interrupted) sends, oldest first (the outbox keeps their order)."""
    cols = ", ".join(f"m.{c.strip()}" for c in MESSAGE_COLUMNS.split(","))
    rows = conn.execute(
        f"SELECT {cols}, c.channel_id, c.platform, cu.platform_id,"
        " (SELECT platform_id FROM messages r WHERE r.id = m.in_reply_to_id)"
        " FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        " JOIN customers cu ON cu.id = c.customer_id"
        " WHERE m.status IN ('queued', 'sending')"
        " ORDER BY m.id LIMIT ?",
        (limit,),
    )
    width = len(MESSAGE_COLUMNS.split(","))
    return [
        OutboxItem(
            message=message_row(r[:width]),
            channel_id=r[width],
            platform=cast("Any", r[width + 1]),
            recipient_id=r[width + 2],
            in_reply_to=r[width + 3],
        )
        for r in rows
    ]
