"""How the assistant is doing: shadow-mode agreement and reply statistics."""

from __future__ import annotations

import sqlite3
import statistics

from .models import AssistantStats, ShadowScore

__all__ = ["AGREED", "assistant_stats", "draft_usage", "record_shadow", "shadow_scores"]

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


# An automatic reply made from a draft that is not a hand-off. The courtesy notices
# ("a person will answer you", "we are closed") carry no draft: they are not answers.
_ANSWERED_BY_ASSISTANT = (
    "m.direction = 'out' AND m.automatic = 1 AND m.status != 'failed'"
    " AND EXISTS (SELECT 1 FROM drafts d WHERE d.id = m.draft_id AND d.handoff = 0)"
)


def assistant_stats(conn: sqlite3.Connection, relay_head: int, cursor: int) -> AssistantStats:
    """The results cards. Each figure is one query over what is stored, so the cards
    agree with the lists and the thread: a conversation the assistant answered on its
    own has an automatic reply and neither a reply by a person nor a hand-off."""
    conversations = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    handed_off_where = (
        "EXISTS (SELECT 1 FROM drafts d WHERE d.conversation_id = c.id AND d.handoff = 1"
        " AND d.state != 'shadow')"
    )
    answered = conn.execute(
        "SELECT COUNT(*) FROM conversations c"
        f" WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
        f"   AND {_ANSWERED_BY_ASSISTANT})"
        " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
        "   AND m.direction = 'out' AND m.automatic = 0 AND m.status != 'failed')"
        f" AND NOT {handed_off_where}"
    ).fetchone()[0]
    auto_replies = conn.execute(
        f"SELECT COUNT(*) FROM messages m WHERE {_ANSWERED_BY_ASSISTANT}"
    ).fetchone()[0]
    handed_off = conn.execute(
        f"SELECT COUNT(*) FROM conversations c WHERE {handed_off_where}"
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
        answered_by_assistant=answered,
        auto_replies=auto_replies,
        handed_off=handed_off,
        median_first_response_s=statistics.median(waits) if waits else None,
        shadow=tuple(shadow_scores(conn)),
        relay_head=relay_head,
        stored_cursor=cursor,
    )


def draft_usage(
    conn: sqlite3.Connection, since_ms: int
) -> list[tuple[int, str | None, int, int, float]]:
    """Tokens and cost the AI reported for each draft made since ``since_ms``."""
    return [
        (int(r[0]), r[1], int(r[2]), int(r[3]), float(r[4]))
        for r in conn.execute(
            "SELECT created_at_ms, model, prompt_tokens, completion_tokens, cost_usd FROM drafts"
            " WHERE created_at_ms >= ? AND prompt_tokens + completion_tokens > 0",
            (since_ms,),
        )
    ]
