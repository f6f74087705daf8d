"""The local SQLite schema, its migrations, and how a connection is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

__all__ = ["SCHEMA_VERSION", "connect", "migrate"]

# Each entry upgrades the schema by one version (PRAGMA user_version counts them).
# The conversation list reads only ``conversations`` joined to ``customers`` by primary
# key; every list order and filter has its own index, so 10k conversations list and
# filter in a few milliseconds (tests/bench/bench_desktop_store.py measures it).
_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE applied_events (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        applied_at_ms INTEGER NOT NULL,
        error TEXT
    ) WITHOUT ROWID;
    CREATE INDEX applied_events_seq ON applied_events (seq);

    CREATE TABLE channels (
        id TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        name TEXT,
        status TEXT NOT NULL,
        detail TEXT,
        updated_at_ms INTEGER NOT NULL
    );

    CREATE TABLE customers (
        id INTEGER PRIMARY KEY,
        channel_id TEXT NOT NULL,
        platform TEXT NOT NULL,
        platform_id TEXT NOT NULL,
        name TEXT,
        phone TEXT,
        avatar_url TEXT,
        subscribed INTEGER,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        UNIQUE (channel_id, platform_id)
    );

    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL UNIQUE REFERENCES customers (id) ON DELETE CASCADE,
        channel_id TEXT NOT NULL,
        platform TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'waiting', 'resolved', 'snoozed')),
        snoozed_until_ms INTEGER,
        unread INTEGER NOT NULL DEFAULT 0,
        labels TEXT NOT NULL DEFAULT '[]',
        notes TEXT NOT NULL DEFAULT '',
        assistant_paused INTEGER NOT NULL DEFAULT 0,
        paused_reason TEXT,
        paused_by_message_id INTEGER,
        last_inbound_ms INTEGER,
        window_deadline_ms INTEGER,
        last_activity_ms INTEGER NOT NULL,
        last_message_id INTEGER,
        last_preview TEXT,
        last_direction TEXT,
        last_status TEXT,
        pending_drafts INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX conversations_recent ON conversations (last_activity_ms DESC, id DESC);
    CREATE INDEX conversations_status
        ON conversations (status, last_activity_ms DESC, id DESC);
    CREATE INDEX conversations_channel
        ON conversations (channel_id, last_activity_ms DESC, id DESC);
    CREATE INDEX conversations_window
        ON conversations (window_deadline_ms) WHERE window_deadline_ms IS NOT NULL;
    CREATE INDEX conversations_unread
        ON conversations (last_activity_ms DESC) WHERE unread > 0;

    CREATE TABLE conversation_labels (
        label TEXT NOT NULL,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        PRIMARY KEY (label, conversation_id)
    ) WITHOUT ROWID;
    CREATE INDEX conversation_labels_conversation ON conversation_labels (conversation_id);

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        author TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'message',
        platform_id TEXT,
        text TEXT,
        attachments TEXT NOT NULL DEFAULT '[]',
        extras TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        send_id TEXT,
        idempotency_key TEXT,
        automatic INTEGER NOT NULL DEFAULT 0,
        device_id TEXT,
        tag TEXT,
        reply_to TEXT,
        in_reply_to_id INTEGER,
        draft_id INTEGER,
        reaction TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        edited_at_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER,
        timestamp_ms INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX messages_conversation ON messages (conversation_id, timestamp_ms, id);
    CREATE INDEX messages_platform_id
        ON messages (conversation_id, platform_id) WHERE platform_id IS NOT NULL;
    CREATE UNIQUE INDEX messages_send_id ON messages (send_id) WHERE send_id IS NOT NULL;
    CREATE UNIQUE INDEX messages_idempotency_key
        ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX messages_outbox ON messages (id) WHERE status IN ('queued', 'sending');

    -- Word search over message texts (prefix queries); kept in step by triggers.
    CREATE VIRTUAL TABLE message_search USING fts5 (
        text, content = 'messages', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_search (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO message_search (message_search, rowid, text)
            VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO message_search (message_search, rowid, text)
            VALUES ('delete', old.id, old.text);
        INSERT INTO message_search (rowid, text) VALUES (new.id, new.text);
    END;

    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        for_message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        text TEXT NOT NULL,
        language TEXT,
        cited_chunk_ids TEXT NOT NULL DEFAULT '[]',
        confidence REAL,
        grounded INTEGER NOT NULL DEFAULT 0,
        handoff INTEGER NOT NULL DEFAULT 0,
        handoff_reason TEXT,
        -- why the assistant did not send it on its own (shown beside the draft)
        hold_reason TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'approved', 'sent', 'discarded', 'superseded', 'shadow')),
        drafter TEXT NOT NULL,
        model TEXT,
        error TEXT,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX drafts_conversation ON drafts (conversation_id, state);
    -- Shadow mode: how close each silent draft came to what the owner then sent.
    CREATE TABLE shadow_scores (
        draft_id INTEGER PRIMARY KEY REFERENCES drafts (id) ON DELETE CASCADE,
        message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        channel_id TEXT NOT NULL,
        topic TEXT,
        score REAL NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX shadow_scores_channel ON shadow_scores (channel_id);
    CREATE INDEX drafts_pending ON drafts (created_at_ms, id) WHERE state = 'pending';
    -- The list shows "a draft waits" per row: a counter kept by triggers is cheaper than
    -- a subquery per row, and no code path can forget it.
    CREATE TRIGGER drafts_count_insert AFTER INSERT ON drafts WHEN new.state = 'pending' BEGIN
        UPDATE conversations SET pending_drafts = pending_drafts + 1
            WHERE id = new.conversation_id;
    END;
    CREATE TRIGGER drafts_count_update AFTER UPDATE OF state ON drafts
        WHEN (old.state = 'pending') != (new.state = 'pending') BEGIN
        UPDATE conversations
            SET pending_drafts = pending_drafts + iif(new.state = 'pending', 1, -1)
            WHERE id = new.conversation_id;
    END;
    CREATE TRIGGER drafts_count_delete AFTER DELETE ON drafts WHEN old.state = 'pending' BEGIN
        UPDATE conversations SET pending_drafts = pending_drafts - 1
            WHERE id = old.conversation_id;
    END;

    -- Erasures applied here, until the relay has our confirmation for its receipt.
    CREATE TABLE erasure_confirmations (
        request_id TEXT PRIMARY KEY,
        counts TEXT NOT NULL,
        confirmed INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL
    );

    CREATE TABLE usage_notices (
        metric TEXT PRIMARY KEY,
        used REAL NOT NULL,
        "limit" REAL NOT NULL,
        share REAL NOT NULL,
        resets_on TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL
    );
    """,
    """
    ALTER TABLE drafts ADD COLUMN withdrawn_reason TEXT;
    """,
    # The platform's latest notice about each channel (a template rejected, a rate limit).
    """
    ALTER TABLE channels ADD COLUMN alert TEXT;
    ALTER TABLE channels ADD COLUMN alert_level TEXT;
    ALTER TABLE channels ADD COLUMN alert_at_ms INTEGER;
    """,
    # "Needs a person" per row of the list, kept by triggers like ``pending_drafts``
    # (a subquery per listed row slowed the 10k-conversation search).
    """
    ALTER TABLE conversations ADD COLUMN pending_handoffs INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET pending_handoffs = (SELECT COUNT(*) FROM drafts d
        WHERE d.conversation_id = conversations.id AND d.state = 'pending' AND d.handoff = 1);
    CREATE TRIGGER drafts_handoff_insert AFTER INSERT ON drafts
        WHEN new.state = 'pending' AND new.handoff = 1 BEGIN
        UPDATE conversations SET pending_handoffs = pending_handoffs + 1
            WHERE id = new.conversation_id;
    END;
    CREATE TRIGGER drafts_handoff_update AFTER UPDATE OF state, handoff ON drafts
        WHEN (old.state = 'pending' AND old.handoff = 1)
            != (new.state = 'pending' AND new.handoff = 1) BEGIN
        UPDATE conversations
            SET pending_handoffs = pending_handoffs
                + iif(new.state = 'pending' AND new.handoff = 1, 1, -1)
            WHERE id = new.conversation_id;
    END;
    CREATE TRIGGER drafts_handoff_delete AFTER DELETE ON drafts
        WHEN old.state = 'pending' AND old.handoff = 1 BEGIN
        UPDATE conversations SET pending_handoffs = pending_handoffs - 1
            WHERE id = old.conversation_id;
    END;
    """,
)

SCHEMA_VERSION: Final = len(_MIGRATIONS)


def connect(path: Path | str) -> sqlite3.Connection:
    """Open the store's file with the settings every connection needs.

    Autocommit mode: transactions are explicit (``BEGIN IMMEDIATE`` ... ``COMMIT``).
    WAL lets the reader connection see the last commit while the writer works;
    ``synchronous=NORMAL`` survives an application crash (a power cut may lose the last
    commits, which the relay then replays: it only forgets events we acknowledged).
    ``secure_delete`` overwrites erased customers' data instead of leaving it in free pages.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file's schema up to :data:`SCHEMA_VERSION` (refuse a newer file)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"The local store was written by a newer Clientora (schema {version}); update the app."
        )
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split(_MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _split(script: str) -> list[str]:
    """Statements of a migration (``executescript`` would commit on its own)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
