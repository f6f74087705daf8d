"""Read queries of the local store, returning typed rows (run on the reader thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Final

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
    "conversation_ids",
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

# Columns are named as the struct's fields (``customer_*`` for the conversation's
# customer), so each reader below maps a row by name.
_CONVERSATION_SELECT: Final = """
SELECT c.id, c.channel_id, ch.name AS channel_name, c.platform,
       cu.id AS customer_id, cu.platform_id AS customer_platform_id, cu.name AS customer_name,
       cu.phone AS customer_phone, cu.avatar_url AS customer_avatar_url,
       cu.subscribed AS customer_subscribed,
       c.status, c.snoozed_until_ms, c.unread, c.labels, c.notes,
       c.assistant_paused, c.paused_reason, c.last_inbound_ms, c.window_deadline_ms,
       c.last_activity_ms, c.last_message_id, c.last_preview AS last_message_preview,
       c.last_direction AS last_message_direction, c.last_status AS last_message_status,
       c.pending_drafts AS has_pending_draft,
       c.created_at_ms,
       c.pending_handoffs AS needs_person,
       lm.automatic AS last_message_automatic
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
_MESSAGE_NAMES: Final = tuple(c.strip() for c in MESSAGE_COLUMNS.split(","))

_DRAFT_COLUMNS: Final = (
    "id, conversation_id, for_message_id, text, language, cited_chunk_ids, confidence,"
    " grounded, handoff, handoff_reason, state, drafter, model, error, prompt_tokens,"
    " completion_tokens, cost_usd, message_id, created_at_ms, updated_at_ms, hold_reason,"
    " withdrawn_reason"
)


def _named(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """The cursor's rows as {column name: value}."""
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def _one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    return next(_named(cursor), None)


def _flags(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with SQLite's 0/1 integers in ``names`` read as booleans."""
    return row | {n: bool(row[n]) for n in names}


def _customer_row(row: dict[str, Any]) -> Customer:
    subscribed = row["subscribed"]
    return Customer(**row | {"subscribed": None if subscribed is None else bool(subscribed)})


def _conversation_row(row: dict[str, Any]) -> Conversation:
    person = {k.removeprefix("customer_"): v for k, v in row.items() if k.startswith("customer_")}
    own = {k: v for k, v in row.items() if not k.startswith("customer_")}
    labels = own["labels"]
    return Conversation(
        **_flags(
            own,
            "assistant_paused",
            "has_pending_draft",
            "needs_person",
            "last_message_automatic",
        )
        | {
            "customer": _customer_row(
                person | {"channel_id": own["channel_id"], "platform": own["platform"]}
            ),
            "labels": _LABELS.decode(labels) if labels != "[]" else (),
        }
    )


def message_row(row: Sequence[Any]) -> Message:
    """A message from a row of ``MESSAGE_COLUMNS``, in that order."""
    return _message(dict(zip(_MESSAGE_NAMES, row, strict=True)))


def _message(row: dict[str, Any]) -> Message:
    return Message(
        **_flags(row, "automatic", "deleted")
        | {
            "attachments": _ATTACHMENTS.decode(row["attachments"]),
            "extras": _EXTRAS.decode(row["extras"]),
        }
    )


def _draft_row(row: dict[str, Any]) -> Draft:
    return Draft(
        **_flags(row, "grounded", "handoff")
        | {"cited_chunk_ids": _LABELS.decode(row["cited_chunk_ids"])}
    )


def fts_query(text: str) -> str | None:
    """An FTS5 query matching every word of ``text`` as a prefix (None: no words)."""
    words = [w.replace('"', "") for w in text.split()]
    terms = [f'"{w}"*' for w in words if w]
    return " ".join(terms) if terms else None


def _filtered(query: ConversationQuery) -> tuple[str, list[object]]:
    """The WHERE, ORDER BY and LIMIT of ``query`` (after the FROM), and their parameters."""
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
    sql = ""
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
    return sql, params


def list_conversations(conn: sqlite3.Connection, query: ConversationQuery) -> list[Conversation]:
    sql, params = _filtered(query)
    return [_conversation_row(r) for r in _named(conn.execute(_CONVERSATION_SELECT + sql, params))]


def conversation_ids(conn: sqlite3.Connection, query: ConversationQuery) -> list[int]:
    """The ids :func:`list_conversations` would list, without building the rows."""
    sql, params = _filtered(query)
    select = "SELECT c.id FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
    return [r[0] for r in conn.execute(select + sql, params)]


def conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation | None:
    row = _one(conn.execute(_CONVERSATION_SELECT + " WHERE c.id = ?", (conversation_id,)))
    return _conversation_row(row) if row else None


def conversations(conn: sqlite3.Connection, ids: Sequence[int]) -> list[Conversation]:
    """These conversations (missing ids are skipped), in the order asked."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(_CONVERSATION_SELECT + f" WHERE c.id IN ({marks})", list(ids))
    found = {r["id"]: _conversation_row(r) for r in _named(rows)}
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
    return [_conversation_row(r) for r in _named(conn.execute(sql, (now_ms, limit)))]


def customer(conn: sqlite3.Connection, customer_id: int) -> Customer | None:
    row = _one(
        conn.execute(
            "SELECT id, channel_id, platform, platform_id, name, phone, avatar_url, subscribed"
            " FROM customers WHERE id = ?",
            (customer_id,),
        )
    )
    return _customer_row(row) if row else None


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
    rows = [_message(r) for r in _named(conn.execute(sql, params))]
    rows.reverse()
    return rows


def message(conn: sqlite3.Connection, message_id: int) -> Message | None:
    row = _one(conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)))
    return _message(row) if row else None


def pending_drafts(conn: sqlite3.Connection, limit: int) -> list[Draft]:
    rows = conn.execute(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE state = 'pending'"
        " ORDER BY created_at_ms, id LIMIT ?",
        (limit,),
    )
    return [_draft_row(r) for r in _named(rows)]


def drafts(conn: sqlite3.Connection, conversation_id: int) -> list[Draft]:
    rows = conn.execute(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    )
    return [_draft_row(r) for r in _named(rows)]


def draft(conn: sqlite3.Connection, draft_id: int) -> Draft | None:
    row = _one(conn.execute(f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE id = ?", (draft_id,)))
    return _draft_row(row) if row else None


def channels(conn: sqlite3.Connection) -> list[Channel]:
    rows = conn.execute(
        "SELECT id, platform, name, status, detail, updated_at_ms, alert, alert_level,"
        " alert_at_ms FROM channels ORDER BY name, id"
    )
    return [Channel(**r) for r in _named(rows)]


def usage_notices(conn: sqlite3.Connection) -> list[UsageNotice]:
    rows = conn.execute(
        'SELECT metric, used, "limit", share, resets_on, timestamp_ms FROM usage_notices'
        " ORDER BY share DESC"
    )
    return [UsageNotice(**r) for r in _named(rows)]


def outbox_due(conn: sqlite3.Connection, limit: int) -> list[OutboxItem]:
    """Queued (or interrupted) sends, oldest first (the outbox keeps their order)."""
    cols = ", ".join(f"m.{c}" for c in _MESSAGE_NAMES)
    rows = conn.execute(
        f"SELECT {cols}, c.channel_id AS to_channel_id, c.platform AS to_platform,"
        " cu.platform_id AS recipient_id,"
        " (SELECT platform_id FROM messages r WHERE r.id = m.in_reply_to_id) AS in_reply_to"
        " FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        " JOIN customers cu ON cu.id = c.customer_id"
        " WHERE m.status IN ('queued', 'sending')"
        " ORDER BY m.id LIMIT ?",
        (limit,),
    )
    return [
        OutboxItem(
            message=_message({n: r[n] for n in _MESSAGE_NAMES}),
            channel_id=r["to_channel_id"],
            platform=r["to_platform"],
            recipient_id=r["recipient_id"],
            in_reply_to=r["in_reply_to"],
        )
        for r in _named(rows)
    ]
