"""How the assistant is doing: shadow-mode agreement and reply statistics."""

from __future__ import annotations

import sqlite3
import statistics

from .models import AssistantStats, ShadowScore

__all__ = ["AGREED", "assistant_stats", "record_shadow", "shadow_scores"]

#: A shadow draft counts as "would have been right" at this agreement or above.
AGREED = 0.6


def record_shadow(
    conn: sqlite3.Connection,
    draft_id: int,
    message_id: int,
    score: float,
    topic: str | None,
    now_ms: int,
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO shadow_scores (draft_id, message_id, channel_id, topic, score,"
        " created_at_ms) SELECT d.id, ?, c.channel_id, ?, ?, ? FROM drafts d"
        " JOIN conversations c ON c.id = d.conversation_id WHERE d.id = ?",
        (message_id, topic, score, now_ms, draft_id),
    )


def shadow_scores(conn: sqlite3.Connection) -> list[ShadowScore]:
    """Per channel (topic None) and per channel and topic."""
    rows = conn.execute(
        "SELECT channel_id, NULL, COUNT(*), SUM(score >= ?) FROM shadow_scores GROUP BY channel_id"
        " UNION ALL SELECT channel_id, topic, COUNT(*), SUM(score >= ?) FROM shadow_scores"
        " WHERE topic IS NOT NULL GROUP BY channel_id, topic ORDER BY 1, 2",
        (AGREED, AGREED),
    ).fetchall()
    return [
        ShadowScore(channel_id=r[0], topic=r[1], compared=r[2], agreed=int(r[3] or 0)) for r in rows
    ]


def assistant_stats(conn: sqlite3.Connection, relay_head: int, cursor: int) -> AssistantStats:
    conversations = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    resolved = conn.execute(
        "SELECT COUNT(*) FROM conversations c WHERE c.status = 'resolved'"
        " AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
        "   AND m.direction = 'out' AND m.author = 'assistant')"
        " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
        "   AND m.direction = 'out' AND m.author != 'assistant')"
    ).fetchone()[0]
    handed_off = conn.execute(
        "SELECT COUNT(DISTINCT conversation_id) FROM drafts WHERE handoff = 1"
    ).fetchone()[0]
    waits = [
        (row[1] - row[0]) / 1000
        for row in conn.execute(
            "SELECT MIN(CASE WHEN direction = 'in' THEN timestamp_ms END),"
            " MIN(CASE WHEN direction = 'out' AND status != 'failed' THEN timestamp_ms END)"
            " FROM messages GROUP BY conversation_id"
        )
        if row[0] is not None and row[1] is not None and row[1] >= row[0]
    ]
    return AssistantStats(
        conversations=conversations,
        resolved_by_assistant=resolved,
        handed_off=handed_off,
        median_first_response_s=statistics.median(waits) if waits else None,
        shadow=tuple(shadow_scores(conn)),
        relay_head=relay_head,
        stored_cursor=cursor,
    )
