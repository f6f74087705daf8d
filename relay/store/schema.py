"""Numbered schema migrations of both databases, applied in order when a store opens.

Migration 1 is the schema as it stood before versioning (every statement ``IF NOT
EXISTS``), so a database made then is adopted as version 1 and upgraded from there.
Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

import time

from relay.store.port import Tx

__all__ = ["POSTGRES", "SQLITE", "migrate"]

_ACCOUNT_ID = """
ALTER TABLE channels ADD COLUMN account_id TEXT;
UPDATE channels SET account_id = (SELECT h.node_id FROM channel_health h
    WHERE h.channel_id = channels.id AND h.node_id <> '') WHERE platform = 'whatsapp';
"""

SQLITE: tuple[str, ...] = (
    """
CREATE TABLE IF NOT EXISTS businesses (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    business_id TEXT NOT NULL, expires_at_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL, cursor INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    platform TEXT NOT NULL, external_id TEXT NOT NULL, name TEXT, status TEXT NOT NULL,
    key_id TEXT NOT NULL, secret BLOB NOT NULL, created_at_ms INTEGER NOT NULL,
    UNIQUE (platform, external_id));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, business_id TEXT NOT NULL,
    channel_id TEXT, customer_id TEXT, kind TEXT NOT NULL, stored_at_ms INTEGER NOT NULL,
    payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_business ON events(business_id, seq);
CREATE INDEX IF NOT EXISTS events_channel ON events(channel_id, customer_id);
CREATE TABLE IF NOT EXISTS dedupe (
    channel_id TEXT NOT NULL, key TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contacts (
    channel_id TEXT NOT NULL, customer_id TEXT NOT NULL, last_inbound_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, customer_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sends (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    channel_id TEXT NOT NULL, auto_reply_to TEXT, state TEXT NOT NULL, result BLOB, seq INTEGER,
    created_at_ms INTEGER NOT NULL, UNIQUE (business_id, key));
CREATE TABLE IF NOT EXISTS usage (
    business_id TEXT NOT NULL, channel_id TEXT NOT NULL, day TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (business_id, day, channel_id, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_warnings (
    business_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (business_id, key)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS sends_one_auto ON sends(channel_id, auto_reply_to)
    WHERE auto_reply_to IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_stored ON events(stored_at_ms);
CREATE INDEX IF NOT EXISTS dedupe_created ON dedupe(created_at_ms);
CREATE INDEX IF NOT EXISTS sends_created ON sends(created_at_ms);
CREATE TABLE IF NOT EXISTS erasures (
    request_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, channel_id TEXT NOT NULL,
    platform TEXT NOT NULL, channel_name TEXT, erased_at_ms INTEGER NOT NULL,
    events INTEGER NOT NULL, contacts INTEGER NOT NULL, dedupe_keys INTEGER NOT NULL,
    sends INTEGER NOT NULL, deletion_code TEXT);
CREATE INDEX IF NOT EXISTS erasures_business ON erasures(business_id);
CREATE INDEX IF NOT EXISTS erasures_code ON erasures(deletion_code);
CREATE TABLE IF NOT EXISTS erasure_confirmations (
    request_id TEXT NOT NULL REFERENCES erasures(request_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL, device_name TEXT NOT NULL, confirmed_at_ms INTEGER NOT NULL,
    counts BLOB NOT NULL, PRIMARY KEY (request_id, device_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deletion_requests (
    code TEXT PRIMARY KEY, received_at_ms INTEGER NOT NULL, channels INTEGER NOT NULL,
    events INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta_logins (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL, device_id TEXT NOT NULL,
    state_hash TEXT NOT NULL UNIQUE, state_used INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    message TEXT, key_id TEXT NOT NULL, listing BLOB, created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS meta_logins_expires ON meta_logins(expires_at_ms);
CREATE TABLE IF NOT EXISTS channel_health (
    channel_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, node_id TEXT NOT NULL DEFAULT '',
    avatar_url TEXT, checks BLOB NOT NULL DEFAULT x'', last_event_at_ms INTEGER,
    last_send_at_ms INTEGER, last_send_ok INTEGER, last_send_error TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS channel_health_node ON channel_health(node_id);
CREATE INDEX IF NOT EXISTS channel_health_business ON channel_health(business_id);
""",
    # 2: a send claim holds for a lease; a pending claim past it has an unknown outcome.
    "ALTER TABLE sends ADD COLUMN lease_until_ms INTEGER;\n",
    # 3: a WhatsApp channel's Business Account id, for account-level webhooks. Channels
    # connected before take it from their health row, where the checks kept it.
    _ACCOUNT_ID,
    # 4: failed password checks per account (keyed by a hash), for a back-off.
    """
CREATE TABLE password_failures (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failure_ms INTEGER NOT NULL,
    blocked_until_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX password_failures_last ON password_failures(last_failure_ms);
""",
    # 5: quota holds, reserved before a metered call and released after it.
    """
CREATE TABLE quota_holds (
    id TEXT NOT NULL, business_id TEXT NOT NULL, name TEXT NOT NULL, amount REAL NOT NULL,
    expires_at_ms INTEGER NOT NULL, PRIMARY KEY (id, name)) WITHOUT ROWID;
CREATE INDEX quota_holds_business ON quota_holds(business_id, expires_at_ms);
""",
    # 6: the away reply: each device's presence (so every relay process knows whether the
    # shop is connected), each channel's switch, the shop's texts per language.
    """
CREATE TABLE device_presence (
    device_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, connections INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX device_presence_business ON device_presence(business_id);
CREATE TABLE away_channels (
    channel_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, enabled INTEGER NOT NULL,
    minutes INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX away_channels_business ON away_channels(business_id);
CREATE TABLE away_messages (
    business_id TEXT PRIMARY KEY, messages BLOB NOT NULL) WITHOUT ROWID;
""",
)

POSTGRES: tuple[str, ...] = (
    """
CREATE TABLE IF NOT EXISTS businesses (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    business_id TEXT NOT NULL, expires_at_ms BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL, cursor BIGINT NOT NULL DEFAULT 0, created_at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    platform TEXT NOT NULL, external_id TEXT NOT NULL, name TEXT, status TEXT NOT NULL,
    key_id TEXT NOT NULL, secret BYTEA NOT NULL, created_at_ms BIGINT NOT NULL,
    UNIQUE (platform, external_id));
CREATE TABLE IF NOT EXISTS business_heads (
    business_id TEXT PRIMARY KEY, head BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    business_id TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, channel_id TEXT,
    customer_id TEXT, kind TEXT NOT NULL, stored_at_ms BIGINT NOT NULL, payload BYTEA NOT NULL,
    PRIMARY KEY (business_id, seq));
CREATE INDEX IF NOT EXISTS events_customer ON events(channel_id, customer_id, seq);
CREATE TABLE IF NOT EXISTS dedupe (
    channel_id TEXT NOT NULL, key TEXT NOT NULL, created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (channel_id, key));
CREATE TABLE IF NOT EXISTS contacts (
    channel_id TEXT NOT NULL, customer_id TEXT NOT NULL, last_inbound_ms BIGINT NOT NULL,
    PRIMARY KEY (channel_id, customer_id));
CREATE TABLE IF NOT EXISTS sends (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    channel_id TEXT NOT NULL, auto_reply_to TEXT, state TEXT NOT NULL, result BYTEA, seq BIGINT,
    created_at_ms BIGINT NOT NULL, UNIQUE (business_id, key));
CREATE UNIQUE INDEX IF NOT EXISTS sends_one_auto ON sends(channel_id, auto_reply_to)
    WHERE auto_reply_to IS NOT NULL;
CREATE INDEX IF NOT EXISTS sends_channel ON sends(channel_id);
CREATE TABLE IF NOT EXISTS usage (
    business_id TEXT NOT NULL, channel_id TEXT NOT NULL, day TEXT COLLATE "C" NOT NULL,
    metric TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (business_id, day, channel_id, metric));
CREATE TABLE IF NOT EXISTS usage_warnings (
    business_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (business_id, key));
CREATE INDEX IF NOT EXISTS events_stored ON events(stored_at_ms);
CREATE INDEX IF NOT EXISTS dedupe_created ON dedupe(created_at_ms);
CREATE INDEX IF NOT EXISTS sends_created ON sends(created_at_ms);
CREATE TABLE IF NOT EXISTS erasures (
    request_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, channel_id TEXT NOT NULL,
    platform TEXT NOT NULL, channel_name TEXT, erased_at_ms BIGINT NOT NULL,
    events BIGINT NOT NULL, contacts BIGINT NOT NULL, dedupe_keys BIGINT NOT NULL,
    sends BIGINT NOT NULL, deletion_code TEXT);
CREATE INDEX IF NOT EXISTS erasures_business ON erasures(business_id);
CREATE INDEX IF NOT EXISTS erasures_code ON erasures(deletion_code);
CREATE TABLE IF NOT EXISTS erasure_confirmations (
    request_id TEXT NOT NULL REFERENCES erasures(request_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL, device_name TEXT NOT NULL, confirmed_at_ms BIGINT NOT NULL,
    counts BYTEA NOT NULL, PRIMARY KEY (request_id, device_id));
CREATE TABLE IF NOT EXISTS deletion_requests (
    code TEXT PRIMARY KEY, received_at_ms BIGINT NOT NULL, channels BIGINT NOT NULL,
    events BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS meta_logins (
    id TEXT PRIMARY KEY, business_id TEXT NOT NULL, device_id TEXT NOT NULL,
    state_hash TEXT NOT NULL UNIQUE, state_used BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL, message TEXT, key_id TEXT NOT NULL, listing BYTEA,
    created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS meta_logins_expires ON meta_logins(expires_at_ms);
CREATE TABLE IF NOT EXISTS channel_health (
    channel_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, node_id TEXT NOT NULL DEFAULT '',
    avatar_url TEXT, checks BYTEA NOT NULL DEFAULT '', last_event_at_ms BIGINT,
    last_send_at_ms BIGINT, last_send_ok BOOLEAN, last_send_error TEXT);
CREATE INDEX IF NOT EXISTS channel_health_node ON channel_health(node_id);
CREATE INDEX IF NOT EXISTS channel_health_business ON channel_health(business_id);
""",
    # 2: a send claim holds for a lease; a pending claim past it has an unknown outcome.
    "ALTER TABLE sends ADD COLUMN lease_until_ms BIGINT;\n",
    # 3: as SQLITE's 3.
    _ACCOUNT_ID,
    # 4: failed password checks per account (keyed by a hash), for a back-off.
    """
CREATE TABLE password_failures (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failure_ms BIGINT NOT NULL,
    blocked_until_ms BIGINT NOT NULL);
CREATE INDEX password_failures_last ON password_failures(last_failure_ms);
""",
    # 5: quota holds, reserved before a metered call and released after it.
    """
CREATE TABLE quota_holds (
    id TEXT NOT NULL, business_id TEXT NOT NULL, name TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL, expires_at_ms BIGINT NOT NULL, PRIMARY KEY (id, name));
CREATE INDEX quota_holds_business ON quota_holds(business_id, expires_at_ms);
""",
    # 6: as SQLITE's 6.
    """
CREATE TABLE device_presence (
    device_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, connections INTEGER NOT NULL,
    seen_ms BIGINT NOT NULL);
CREATE INDEX device_presence_business ON device_presence(business_id);
CREATE TABLE away_channels (
    channel_id TEXT PRIMARY KEY, business_id TEXT NOT NULL, enabled BOOLEAN NOT NULL,
    minutes INTEGER NOT NULL);
CREATE INDEX away_channels_business ON away_channels(business_id);
CREATE TABLE away_messages (business_id TEXT PRIMARY KEY, messages BYTEA NOT NULL);
""",
)


async def migrate(tx: Tx, migrations: tuple[str, ...]) -> int:
    """Apply the migrations the database has not had yet; returns its version now."""
    await tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)"
    )
    row = await tx.fetchrow("SELECT MAX(version) AS version FROM schema_version")
    current = int(row["version"] or 0) if row is not None else 0
    if current > len(migrations):
        raise RuntimeError(
            f"the database's schema is version {current}, newer than this relay knows"
            f" ({len(migrations)}): upgrade the relay"
        )
    for number in range(current + 1, len(migrations) + 1):
        for statement in migrations[number - 1].split(";\n"):
            if statement.strip():
                await tx.execute(statement)
        await tx.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (?, ?)",
            number,
            time.time_ns() // 1_000_000,
        )
    return len(migrations)
