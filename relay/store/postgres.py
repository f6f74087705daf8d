"""PostgreSQL store: several relay processes share one database; LISTEN/NOTIFY wakes them.

Sequence numbers are counted per business. Every transaction that stores events first
locks its businesses' rows in ``business_heads`` (in sorted order, so two of them never
wait on each other), takes the next numbers from there and writes the new head back.
Two writers of one business therefore commit one after the other, and a seq becomes
visible only after every smaller seq of its business is visible: a stream reader that
has seen seq 11 can never later find a seq 10 it skipped, which a shared ``BIGSERIAL``
could not promise (11 may commit before 10). Numbers are dense per business except
where a channel's events were erased; seqs of different businesses overlap.

Dedupe keys, sends and contacts rely on unique constraints with ``ON CONFLICT``, so
processes that receive the same webhook or retry the same send at once store it once.

After a commit with new events the store calls its listeners itself, and the same
transaction sends ``NOTIFY clientora_events, '<business id>'``; one connection per
store LISTENs and calls the listeners for commits of other processes. Notifications
from this store's own pool connections (known by server pid) are skipped, so every
listener hears of a commit once. While that connection is down (it reconnects with
backoff) other processes' commits go unheard; streams still poll at each heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from common.channels import Platform
from relay.store.base import (
    ChannelHealthRow,
    ChannelRow,
    CommitListener,
    ConfirmationRow,
    Conflict,
    DedupeKeyOf,
    DeletionRequestRow,
    DeviceRow,
    ErasureRow,
    MetaLoginRow,
    NewEvent,
    RetentionCounts,
    RetentionCutoffs,
    SendClaim,
    SessionRow,
    StoredEvent,
    UsageRow,
    UserRow,
)
from relay.store.rows import (
    ERASURE_COLUMNS,
    ERASURE_FROM,
    HEALTH_COLUMNS,
    LOGIN_COLUMNS,
    health_row,
    login_row,
)
from relay.store.sqlite import utc_day

__all__ = ["NOTIFY_CHANNEL", "PostgresStore"]

T = TypeVar("T")

NOTIFY_CHANNEL = "clientora_events"

log = logging.getLogger("clientora.relay.store")

SCHEMA = """
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
"""

# Any number: processes opening the same database at once take turns creating the schema.
_SCHEMA_LOCK = 0x636C_6E74_6F72_61

# A deadlock needs rows locked in opposite orders (dedupe keys without a channel shared by
# two businesses, one business's usage counters); PostgreSQL aborts one side, which runs again.
_TRIES = 3
# A claim that conflicts with one released before we could read it is simply taken again.
_CLAIM_TRIES = 10

_CHANNEL_COLUMNS = (
    "id, business_id, platform, external_id, name, status, key_id, secret, created_at_ms"
)


# Every table that names a business, erased with its account (children first).
_BUSINESS_TABLES = (
    "sessions",
    "users",
    "devices",
    "events",
    "sends",
    "usage",
    "usage_warnings",
    "erasures",
    "business_heads",
    "meta_logins",
    "channel_health",
)

# Retention deletes: each takes (cutoff, batch size). An event counts as acknowledged
# once every device of its business has a cursor at or past it (no devices: never).
_EXPIRE_ACKED = (
    "DELETE FROM events x USING (SELECT e.business_id, e.seq FROM events e JOIN"
    " (SELECT business_id, MIN(cursor) AS acked FROM devices GROUP BY business_id) d"
    " ON d.business_id = e.business_id WHERE e.stored_at_ms < $1 AND e.seq <= d.acked"
    " LIMIT $2) doomed WHERE x.business_id = doomed.business_id AND x.seq = doomed.seq"
)
_EXPIRE_UNACKED = (
    "DELETE FROM events x USING (SELECT business_id, seq FROM events WHERE stored_at_ms < $1"
    " LIMIT $2) doomed WHERE x.business_id = doomed.business_id AND x.seq = doomed.seq"
)
_EXPIRE_DEDUPE = (
    "DELETE FROM dedupe x USING (SELECT channel_id, key FROM dedupe WHERE created_at_ms < $1"
    " LIMIT $2) doomed WHERE x.channel_id = doomed.channel_id AND x.key = doomed.key"
)
_EXPIRE_SENDS = (
    "DELETE FROM sends WHERE id IN (SELECT id FROM sends WHERE created_at_ms < $1 LIMIT $2)"
)
_EXPIRE_CONTACTS = (
    "DELETE FROM contacts x USING (SELECT channel_id, customer_id FROM contacts"
    " WHERE last_inbound_ms < $1 LIMIT $2) doomed"
    " WHERE x.channel_id = doomed.channel_id AND x.customer_id = doomed.customer_id"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return uuid.uuid4().hex


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class _Listener:
    """Keeps one connection LISTENing on the events channel; reconnects when it drops."""

    def __init__(self, dsn: str, callback: Callable[[Any, int, str, str], None]) -> None:
        self._dsn = dsn
        self._callback = callback
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(
            self._keep_listening(), name="postgres-listener"
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._callback)
        except BaseException:
            await conn.close()
            raise
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._conn = conn

    async def _keep_listening(self) -> None:
        while True:
            await self._lost.wait()
            self._conn = None
            delay = 0.1
            while True:
                try:
                    await self._connect()
                    break
                except Exception as exc:  # whatever the cause, try again later
                    log.warning("cannot LISTEN on PostgreSQL, retrying", extra={"error": str(exc)})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            log.info("listening on PostgreSQL again")


class PostgresStore:
    """The shared store (see module docstring)."""

    def __init__(self, pool: asyncpg.Pool, own_pids: set[int]) -> None:
        self._pool = pool
        self._own_pids = own_pids
        self._listeners: list[CommitListener] = []
        self._listener: _Listener | None = None

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int = 10) -> PostgresStore:
        """Connect, create the schema if missing and start listening for other processes."""
        own_pids: set[int] = set()

        async def track(conn: asyncpg.Connection) -> None:
            pid = int(conn.get_server_pid())
            own_pids.add(pid)
            conn.add_termination_listener(lambda _conn: own_pids.discard(pid))

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size, init=track)
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(SCHEMA)
            store = cls(pool, own_pids)
            store._listener = _Listener(dsn, store._on_notification)
            await store._listener.start()
        except BaseException:
            await pool.close()
            raise
        return store

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self._pool.close()

    def _notify(self, business_ids: set[str]) -> None:
        if business_ids:
            for listener in self._listeners:
                listener(business_ids)

    def _on_notification(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid in self._own_pids:
            return  # our own commit: its listeners were called when it returned
        try:
            self._notify({payload})
        except Exception:  # a listener's bug must not stop later notifications
            log.exception("a commit listener failed")

    async def _transact(self, op: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        for attempt in range(1, _TRIES + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await op(conn)
            except asyncpg.DeadlockDetectedError:
                if attempt == _TRIES:
                    raise
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(await self._pool.fetch(sql, *params))

    async def _fetchval(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return await self._pool.fetchval(sql, *params)

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> str:
        return str(await self._pool.execute(sql, *params))

    # ---- accounts -------------------------------------------------------------------

    async def create_business(
        self, business_name: str, user_name: str, email: str, password_hash: str
    ) -> UserRow:
        user = UserRow(_new_id(), _new_id(), user_name, email.strip().lower(), password_hash)

        async def op(conn: asyncpg.Connection) -> UserRow:
            now = _now_ms()
            await conn.execute(
                "INSERT INTO businesses (id, name, created_at_ms) VALUES ($1, $2, $3)",
                user.business_id,
                business_name,
                now,
            )
            await conn.execute(
                "INSERT INTO users (id, business_id, name, email, password_hash, created_at_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                user.id,
                user.business_id,
                user.name,
                user.email,
                password_hash,
                now,
            )
            return user

        try:
            return await self._transact(op)
        except asyncpg.UniqueViolationError:
            raise Conflict("an account with this e-mail already exists") from None

    async def user_by_email(self, email: str) -> UserRow | None:
        rows = await self._fetch(
            "SELECT id, business_id, name, email, password_hash FROM users WHERE email = $1",
            (email.strip().lower(),),
        )
        return UserRow(*rows[0]) if rows else None

    async def user(self, business_id: str, user_id: str) -> UserRow | None:
        rows = await self._fetch(
            "SELECT id, business_id, name, email, password_hash FROM users"
            " WHERE id = $1 AND business_id = $2",
            (user_id, business_id),
        )
        return UserRow(*rows[0]) if rows else None

    async def set_password(self, business_id: str, user_id: str, password_hash: str) -> None:
        await self._execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND business_id = $3",
            (password_hash, user_id, business_id),
        )

    async def create_session(self, token_hash: str, user: UserRow, expires_at_ms: int) -> None:
        await self._execute(
            "INSERT INTO sessions (token_hash, user_id, business_id, expires_at_ms)"
            " VALUES ($1, $2, $3, $4)",
            (token_hash, user.id, user.business_id, expires_at_ms),
        )

    async def session(self, token_hash: str, now_ms: int) -> SessionRow | None:
        rows = await self._fetch(
            "SELECT user_id, business_id, expires_at_ms FROM sessions"
            " WHERE token_hash = $1 AND NOT revoked AND expires_at_ms > $2",
            (token_hash, now_ms),
        )
        return SessionRow(*rows[0]) if rows else None

    async def revoke_session(self, token_hash: str) -> None:
        await self._execute(
            "UPDATE sessions SET revoked = TRUE WHERE token_hash = $1", (token_hash,)
        )

    async def revoke_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        status = await self._execute(
            "UPDATE sessions SET revoked = TRUE WHERE user_id = $1"
            " AND token_hash IS DISTINCT FROM $2 AND NOT revoked",
            (user_id, keep),
        )
        return _count(status)

    # ---- devices --------------------------------------------------------------------

    async def create_device(self, business_id: str, name: str) -> DeviceRow:
        device = DeviceRow(_new_id(), business_id, name, 0, _now_ms())
        await self._execute(
            "INSERT INTO devices (id, business_id, name, cursor, created_at_ms)"
            " VALUES ($1, $2, $3, 0, $4)",
            (device.id, business_id, name, device.created_at_ms),
        )
        return device

    async def device(self, business_id: str, device_id: str) -> DeviceRow | None:
        rows = await self._fetch(
            "SELECT id, business_id, name, cursor, created_at_ms FROM devices"
            " WHERE id = $1 AND business_id = $2",
            (device_id, business_id),
        )
        return DeviceRow(*rows[0]) if rows else None

    async def devices(self, business_id: str) -> list[DeviceRow]:
        rows = await self._fetch(
            "SELECT id, business_id, name, cursor, created_at_ms FROM devices"
            " WHERE business_id = $1 ORDER BY created_at_ms, id",
            (business_id,),
        )
        return [DeviceRow(*r) for r in rows]

    async def advance_cursor(self, business_id: str, device_id: str, seq: int) -> None:
        await self._execute(
            "UPDATE devices SET cursor = GREATEST(cursor, $1) WHERE id = $2 AND business_id = $3",
            (seq, device_id, business_id),
        )

    # ---- channels -------------------------------------------------------------------

    async def create_channel(
        self,
        business_id: str,
        channel_id: str,
        platform: Platform,
        external_id: str,
        name: str | None,
        key_id: str,
        secret: bytes,
    ) -> ChannelRow:
        row = ChannelRow(
            channel_id,
            business_id,
            platform,
            external_id,
            name,
            "connected",
            key_id,
            secret,
            _now_ms(),
        )
        try:
            await self._execute(
                f"INSERT INTO channels ({_CHANNEL_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                (
                    row.id,
                    business_id,
                    platform,
                    external_id,
                    name,
                    row.status,
                    key_id,
                    secret,
                    row.created_at_ms,
                ),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"this {platform} account is already connected") from None
        return row

    async def channels(self, business_id: str) -> list[ChannelRow]:
        rows = await self._fetch(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE business_id = $1"
            " ORDER BY created_at_ms, id",
            (business_id,),
        )
        return [ChannelRow(*r) for r in rows]

    async def channel(self, business_id: str, channel_id: str) -> ChannelRow | None:
        rows = await self._fetch(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND business_id = $2",
            (channel_id, business_id),
        )
        return ChannelRow(*rows[0]) if rows else None

    async def channel_by_id(self, channel_id: str) -> ChannelRow | None:
        rows = await self._fetch(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE id = $1", (channel_id,)
        )
        return ChannelRow(*rows[0]) if rows else None

    async def all_channels(self) -> list[ChannelRow]:
        return [
            ChannelRow(*r) for r in await self._fetch(f"SELECT {_CHANNEL_COLUMNS} FROM channels")
        ]

    async def set_channel_status(self, business_id: str, channel_id: str, status: str) -> None:
        await self._execute(
            "UPDATE channels SET status = $1 WHERE id = $2 AND business_id = $3",
            (status, channel_id, business_id),
        )

    async def replace_secret(
        self, business_id: str, channel_id: str, key_id: str, secret: bytes
    ) -> None:
        await self._execute(
            "UPDATE channels SET key_id = $1, secret = $2 WHERE id = $3 AND business_id = $4",
            (key_id, secret, channel_id, business_id),
        )

    async def delete_channel(
        self, business_id: str, channel_id: str, farewell: NewEvent | None
    ) -> bool:
        async def op(conn: asyncpg.Connection) -> bool:
            # Lock the business first: an append of this channel's events that is still
            # open finishes before we erase, and none can start until we commit.
            await _lock_heads(conn, [business_id])
            status = await conn.execute(
                "DELETE FROM channels WHERE id = $1 AND business_id = $2", channel_id, business_id
            )
            if _count(status) == 0:
                return False
            await conn.execute(
                "DELETE FROM events WHERE channel_id = $1 AND business_id = $2",
                channel_id,
                business_id,
            )
            for table in ("dedupe", "contacts", "sends"):
                await conn.execute(f"DELETE FROM {table} WHERE channel_id = $1", channel_id)
            if farewell is not None:
                await _insert_events(conn, [farewell])
            return True

        deleted = await self._transact(op)
        if deleted and farewell is not None:
            self._notify({farewell.business_id})
        return deleted

    # ---- event log ------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[int | None]:
        if not events:
            return []
        seqs = await self._transact(lambda conn: _insert_events(conn, events))
        self._notify({e.business_id for e, s in zip(events, seqs, strict=True) if s is not None})
        return seqs

    async def events_after(self, business_id: str, after: int, limit: int) -> list[StoredEvent]:
        rows = await self._fetch(
            "SELECT seq, id, stored_at_ms, payload FROM events"
            " WHERE business_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            (business_id, after, limit),
        )
        return [StoredEvent(*r) for r in rows]

    async def head(self, business_id: str) -> int:
        value = await self._fetchval(
            "SELECT MAX(seq) FROM events WHERE business_id = $1", (business_id,)
        )
        return int(value or 0)

    async def customer_events(
        self, channel_id: str, customer_id: str, after: int, limit: int
    ) -> list[StoredEvent]:
        # A channel belongs to one business, so its events share one numbering.
        rows = await self._fetch(
            "SELECT seq, id, stored_at_ms, payload FROM events"
            " WHERE channel_id = $1 AND customer_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
            (channel_id, customer_id, after, limit),
        )
        return [StoredEvent(*r) for r in rows]

    async def last_inbound(self, channel_id: str, customer_id: str) -> int | None:
        value = await self._fetchval(
            "SELECT last_inbound_ms FROM contacts WHERE channel_id = $1 AND customer_id = $2",
            (channel_id, customer_id),
        )
        return None if value is None else int(value)

    # ---- sends ----------------------------------------------------------------------

    async def claim_send(
        self,
        business_id: str,
        key: str,
        fingerprint: str,
        channel_id: str,
        auto_reply_to: str | None,
    ) -> SendClaim:
        # Statement by statement, without a transaction: ON CONFLICT waits for a rival
        # claim to commit or roll back, and a claim released in between is tried again.
        for _ in range(_CLAIM_TRIES):
            send_id = _new_id()
            inserted = await self._fetchval(
                "INSERT INTO sends (id, business_id, key, fingerprint, channel_id,"
                " auto_reply_to, state, created_at_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (send_id, business_id, key, fingerprint, channel_id, auto_reply_to, _now_ms()),
            )
            if inserted is not None:
                return SendClaim(send_id, "new", fingerprint, None)
            rows = await self._fetch(
                "SELECT id, state, fingerprint, result, seq FROM sends"
                " WHERE business_id = $1 AND key = $2",
                (business_id, key),
            )
            if rows:
                return SendClaim(*rows[0])
            if auto_reply_to is not None:
                taken = await self._fetchval(
                    "SELECT 1 FROM sends WHERE channel_id = $1 AND auto_reply_to = $2",
                    (channel_id, auto_reply_to),
                )
                if taken is not None:
                    return SendClaim("", "already_replied", fingerprint, None)
        raise RuntimeError("the send key kept changing hands; try again")

    async def finish_send(self, send_id: str, ok: bool, result: bytes, event: NewEvent) -> int:
        async def op(conn: asyncpg.Connection) -> int:
            seq = (await _insert_events(conn, [event]))[0]
            if seq is None:
                raise RuntimeError("a send's event was taken for a duplicate")
            await conn.execute(
                "UPDATE sends SET state = $1, result = $2, seq = $3 WHERE id = $4",
                "sent" if ok else "failed",
                result,
                seq,
                send_id,
            )
            return seq

        seq = await self._transact(op)
        self._notify({event.business_id})
        return seq

    async def release_send(self, send_id: str) -> None:
        await self._execute("DELETE FROM sends WHERE id = $1", (send_id,))

    # ---- usage ----------------------------------------------------------------------

    async def add_usage(
        self, business_id: str, channel_id: str, deltas: Mapping[str, float], now_ms: int
    ) -> None:
        await self._transact(lambda conn: _add_usage(conn, business_id, channel_id, deltas, now_ms))

    async def usage(self, business_id: str, first_day: str, last_day: str) -> list[UsageRow]:
        # Byte order, as SQLite sorts text; a locale's collation would order ids differently.
        rows = await self._fetch(
            "SELECT channel_id, day, metric, value FROM usage"
            " WHERE business_id = $1 AND day BETWEEN $2 AND $3"
            ' ORDER BY day, channel_id COLLATE "C", metric COLLATE "C"',
            (business_id, first_day, last_day),
        )
        return [UsageRow(*r) for r in rows]

    async def claim_warning(self, business_id: str, key: str) -> bool:
        claimed = await self._fetchval(
            "INSERT INTO usage_warnings (business_id, key) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING TRUE",
            (business_id, key),
        )
        return claimed is not None

    # ---- erasure --------------------------------------------------------------------

    async def erase_customer(
        self,
        business_id: str,
        channel_id: str,
        customer_id: str,
        request_id: str,
        event: NewEvent,
        dedupe_key_of: DedupeKeyOf,
        deletion_code: str | None = None,
    ) -> ErasureRow | None:
        if not customer_id:
            raise ValueError("an erasure needs a customer id")

        async def op(conn: asyncpg.Connection) -> ErasureRow | None:
            # As in delete_channel: an append still open finishes first, none starts after.
            await _lock_heads(conn, [business_id])
            found = await conn.fetchrow(
                "SELECT c.platform, c.name, b.name FROM channels c"
                " JOIN businesses b ON b.id = c.business_id"
                " WHERE c.id = $1 AND c.business_id = $2",
                channel_id,
                business_id,
            )
            if found is None:
                return None
            erased = await conn.fetch(
                "DELETE FROM events WHERE business_id = $1 AND channel_id = $2"
                " AND customer_id = $3 RETURNING seq, kind, payload",
                business_id,
                channel_id,
                customer_id,
            )
            keys = sorted({k for r in erased if (k := dedupe_key_of(r[1], bytes(r[2])))})
            dedupe = await conn.execute(
                "DELETE FROM dedupe WHERE channel_id = $1"
                " AND (strpos(key, $2) > 0 OR key = ANY($3::text[]))",
                channel_id,
                customer_id,
                keys,
            )
            contacts = await conn.execute(
                "DELETE FROM contacts WHERE channel_id = $1 AND customer_id = $2",
                channel_id,
                customer_id,
            )
            # A finished send's seq is its event's: the sends that made erased events.
            sends = await conn.execute(
                "DELETE FROM sends WHERE business_id = $1 AND channel_id = $2"
                " AND seq = ANY($3::bigint[])",
                business_id,
                channel_id,
                [int(r[0]) for r in erased],
            )
            row = ErasureRow(
                request_id=request_id,
                business_id=business_id,
                business_name=found[2],
                channel_id=channel_id,
                platform=found[0],
                channel_name=found[1],
                erased_at_ms=event.timestamp_ms,
                events=len(erased),
                contacts=_count(contacts),
                dedupe_keys=_count(dedupe),
                sends=_count(sends),
                deletion_code=deletion_code,
            )
            await conn.execute(
                "INSERT INTO erasures (request_id, business_id, channel_id, platform,"
                " channel_name, erased_at_ms, events, contacts, dedupe_keys, sends, deletion_code)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                row.request_id,
                business_id,
                channel_id,
                row.platform,
                row.channel_name,
                row.erased_at_ms,
                row.events,
                row.contacts,
                row.dedupe_keys,
                row.sends,
                deletion_code,
            )
            await _insert_events(conn, [event])
            return row

        row = await self._transact(op)
        if row is not None:
            self._notify({business_id})
        return row

    async def channels_with_customer(
        self, customer_id: str, platforms: Sequence[str]
    ) -> list[ChannelRow]:
        rows = await self._fetch(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE platform = ANY($1::text[]) AND ("
            " EXISTS (SELECT 1 FROM events WHERE events.channel_id = channels.id"
            " AND events.customer_id = $2)"
            " OR EXISTS (SELECT 1 FROM contacts WHERE contacts.channel_id = channels.id"
            " AND contacts.customer_id = $2)) ORDER BY created_at_ms, id",
            (list(platforms), customer_id),
        )
        return [ChannelRow(*r) for r in rows]

    async def erasure(self, business_id: str, request_id: str) -> ErasureRow | None:
        rows = await self._fetch(
            f"SELECT {ERASURE_COLUMNS} FROM {ERASURE_FROM}"
            " WHERE e.request_id = $1 AND e.business_id = $2",
            (request_id, business_id),
        )
        return ErasureRow(*rows[0]) if rows else None

    async def erasures_for_request(self, deletion_code: str) -> list[ErasureRow]:
        rows = await self._fetch(
            f"SELECT {ERASURE_COLUMNS} FROM {ERASURE_FROM}"
            " WHERE e.deletion_code = $1 ORDER BY e.erased_at_ms, e.request_id",
            (deletion_code,),
        )
        return [ErasureRow(*r) for r in rows]

    async def confirm_erasure(
        self, business_id: str, request_id: str, device_id: str, counts: bytes, now_ms: int
    ) -> bool:
        async def op(conn: asyncpg.Connection) -> bool:
            erasure = await conn.fetchval(
                "SELECT 1 FROM erasures WHERE request_id = $1 AND business_id = $2",
                request_id,
                business_id,
            )
            device_name = await conn.fetchval(
                "SELECT name FROM devices WHERE id = $1 AND business_id = $2",
                device_id,
                business_id,
            )
            if erasure is None or device_name is None:
                return False
            await conn.execute(
                "INSERT INTO erasure_confirmations"
                " (request_id, device_id, device_name, confirmed_at_ms, counts)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                request_id,
                device_id,
                device_name,
                now_ms,
                counts,
            )
            return True

        return await self._transact(op)

    async def erasure_confirmations(
        self, business_id: str, request_id: str
    ) -> list[ConfirmationRow]:
        rows = await self._fetch(
            "SELECT c.request_id, c.device_id, c.device_name, c.confirmed_at_ms, c.counts"
            " FROM erasure_confirmations c JOIN erasures e ON e.request_id = c.request_id"
            " WHERE c.request_id = $1 AND e.business_id = $2"
            " ORDER BY c.confirmed_at_ms, c.device_id",
            (request_id, business_id),
        )
        return [ConfirmationRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    async def add_deletion_request(self, row: DeletionRequestRow) -> None:
        await self._execute(
            "INSERT INTO deletion_requests (code, received_at_ms, channels, events)"
            " VALUES ($1, $2, $3, $4)",
            (row.code, row.received_at_ms, row.channels, row.events),
        )

    async def deletion_request(self, code: str) -> DeletionRequestRow | None:
        rows = await self._fetch(
            "SELECT code, received_at_ms, channels, events FROM deletion_requests WHERE code = $1",
            (code,),
        )
        return DeletionRequestRow(*rows[0]) if rows else None

    async def delete_business(self, business_id: str) -> bool:
        async def op(conn: asyncpg.Connection) -> bool:
            if await conn.fetchval("SELECT 1 FROM businesses WHERE id = $1", business_id) is None:
                return False
            await _lock_heads(conn, [business_id])
            channels = [
                r[0]
                for r in await conn.fetch(
                    "SELECT id FROM channels WHERE business_id = $1", business_id
                )
            ]
            for table in ("dedupe", "contacts"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE channel_id = ANY($1::text[])", channels
                )
            for table in (*_BUSINESS_TABLES, "channels"):
                await conn.execute(f"DELETE FROM {table} WHERE business_id = $1", business_id)
            await conn.execute("DELETE FROM businesses WHERE id = $1", business_id)
            return True

        deleted = await self._transact(op)
        if deleted:
            self._notify({business_id})  # its streams wake, find their session gone, close
        return deleted

    # ---- retention ------------------------------------------------------------------

    async def expire(self, cutoffs: RetentionCutoffs, batch: int) -> RetentionCounts:
        return RetentionCounts(
            acked_events=await self._in_batches(_EXPIRE_ACKED, cutoffs.acked_before_ms, batch),
            unacked_events=await self._in_batches(
                _EXPIRE_UNACKED, cutoffs.unacked_before_ms, batch
            ),
            dedupe_keys=await self._in_batches(_EXPIRE_DEDUPE, cutoffs.keys_before_ms, batch),
            sends=await self._in_batches(_EXPIRE_SENDS, cutoffs.keys_before_ms, batch),
            contacts=await self._in_batches(_EXPIRE_CONTACTS, cutoffs.contacts_before_ms, batch),
        )

    async def _in_batches(self, sql: str, before_ms: int, batch: int) -> int:
        """Run a ``DELETE ... LIMIT`` until it deletes fewer than ``batch`` rows, each run
        its own short transaction (a deadlock with an erasure is retried)."""
        total = 0
        while True:

            async def op(conn: asyncpg.Connection) -> int:
                return _count(await conn.execute(sql, before_ms, batch))

            deleted = await self._transact(op)
            total += deleted
            if deleted < batch:
                return total

    # ---- channel onboarding -----------------------------------------------------------

    async def create_meta_login(self, row: MetaLoginRow) -> None:
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "DELETE FROM meta_logins WHERE expires_at_ms < $1", row.created_at_ms
            )
            await conn.execute(
                f"INSERT INTO meta_logins ({LOGIN_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                row.id,
                row.business_id,
                row.device_id,
                row.state_hash,
                row.status,
                row.message,
                row.key_id,
                row.listing,
                row.created_at_ms,
                row.expires_at_ms,
                row.state_used,
            )

        await self._transact(op)

    async def meta_login(self, business_id: str, login_id: str) -> MetaLoginRow | None:
        rows = await self._fetch(
            f"SELECT {LOGIN_COLUMNS} FROM meta_logins WHERE id = $1 AND business_id = $2",
            (login_id, business_id),
        )
        return login_row(rows[0]) if rows else None

    async def meta_login_by_state(self, state_hash: str) -> MetaLoginRow | None:
        rows = await self._fetch(
            f"SELECT {LOGIN_COLUMNS} FROM meta_logins WHERE state_hash = $1", (state_hash,)
        )
        return login_row(rows[0]) if rows else None

    async def claim_meta_login(self, state_hash: str, now_ms: int) -> MetaLoginRow | None:
        # One UPDATE: of two processes handling the same callback, exactly one gets the row.
        rows = await self._fetch(
            "UPDATE meta_logins SET state_used = TRUE WHERE state_hash = $1"
            " AND NOT state_used AND status = 'pending' AND expires_at_ms > $2"
            f" RETURNING {LOGIN_COLUMNS}",
            (state_hash, now_ms),
        )
        return login_row(rows[0]) if rows else None

    async def update_meta_login(
        self,
        login_id: str,
        status: str,
        message: str | None,
        key_id: str,
        listing: bytes | None,
        expires_at_ms: int,
    ) -> None:
        await self._execute(
            "UPDATE meta_logins SET status = $2, message = $3, key_id = $4, listing = $5,"
            " expires_at_ms = $6 WHERE id = $1",
            (login_id, status, message, key_id, listing, expires_at_ms),
        )

    async def expire_meta_logins(self, now_ms: int) -> int:
        return _count(
            await self._execute(
                "DELETE FROM meta_logins WHERE expires_at_ms < $1"
                " OR business_id NOT IN (SELECT id FROM businesses)",
                (now_ms,),
            )
        )

    # ---- channel health ---------------------------------------------------------------

    async def save_channel_health(self, row: ChannelHealthRow) -> None:
        await self._execute(
            "INSERT INTO channel_health (channel_id, business_id, node_id, avatar_url, checks)"
            " SELECT id, business_id, $1, $2, $3 FROM channels WHERE id = $4 AND business_id = $5"
            " ON CONFLICT (channel_id) DO UPDATE SET node_id = excluded.node_id,"
            " avatar_url = excluded.avatar_url, checks = excluded.checks",
            (row.node_id, row.avatar_url, row.checks, row.channel_id, row.business_id),
        )

    async def record_channel_activity(
        self,
        events: Mapping[str, int],
        sends: Mapping[str, tuple[int, bool, str | None]],
    ) -> None:
        if not events and not sends:
            return

        async def op(conn: asyncpg.Connection) -> None:
            # Sorted: two processes flushing at once lock the rows in the same order.
            await conn.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_event_at_ms)"
                " SELECT id, business_id, $1 FROM channels WHERE id = $2"
                " ON CONFLICT (channel_id) DO UPDATE SET last_event_at_ms ="
                " GREATEST(channel_health.last_event_at_ms, excluded.last_event_at_ms)",
                [(events[channel_id], channel_id) for channel_id in sorted(events)],
            )
            await conn.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_send_at_ms,"
                " last_send_ok, last_send_error) SELECT id, business_id, $1, $2, $3"
                " FROM channels WHERE id = $4 ON CONFLICT (channel_id) DO UPDATE SET"
                " last_send_at_ms = excluded.last_send_at_ms,"
                " last_send_ok = excluded.last_send_ok, last_send_error = excluded.last_send_error"
                " WHERE COALESCE(channel_health.last_send_at_ms, 0) <= excluded.last_send_at_ms",
                [(*sends[channel_id], channel_id) for channel_id in sorted(sends)],
            )

        await self._transact(op)

    async def channel_health(self, business_id: str, channel_id: str) -> ChannelHealthRow | None:
        rows = await self._fetch(
            f"SELECT {HEALTH_COLUMNS} FROM channel_health"
            " WHERE channel_id = $1 AND business_id = $2",
            (channel_id, business_id),
        )
        return health_row(rows[0]) if rows else None

    async def channels_health(self, business_id: str) -> list[ChannelHealthRow]:
        rows = await self._fetch(
            f"SELECT {HEALTH_COLUMNS} FROM channel_health WHERE business_id = $1", (business_id,)
        )
        return [health_row(r) for r in rows]

    async def channels_on_node(self, node_id: str) -> list[str]:
        rows = await self._fetch(
            "SELECT h.channel_id FROM channel_health h JOIN channels c ON c.id = h.channel_id"
            " WHERE h.node_id = $1 ORDER BY h.channel_id",
            (node_id,),
        )
        return [str(r[0]) for r in rows]

    async def forget_channel_health(self, channel_id: str | None = None) -> int:
        if channel_id is not None:
            return _count(
                await self._execute(
                    "DELETE FROM channel_health WHERE channel_id = $1", (channel_id,)
                )
            )
        return _count(
            await self._execute(
                "DELETE FROM channel_health WHERE channel_id NOT IN (SELECT id FROM channels)"
            )
        )


async def _lock_heads(conn: asyncpg.Connection, business_ids: Sequence[str]) -> dict[str, int]:
    """Lock each business's head row (sorted, so lockers never wait in a circle)."""
    heads: dict[str, int] = {}
    for business_id in sorted(set(business_ids)):
        heads[business_id] = int(
            await conn.fetchval(
                "INSERT INTO business_heads (business_id, head) VALUES ($1, 0)"
                " ON CONFLICT (business_id) DO UPDATE SET head = business_heads.head"
                " RETURNING head",
                business_id,
            )
        )
    return heads


async def _insert_events(conn: asyncpg.Connection, events: Sequence[NewEvent]) -> list[int | None]:
    now = _now_ms()
    start = await _lock_heads(conn, [e.business_id for e in events])
    heads = dict(start)
    seqs: list[int | None] = []
    for e in events:
        if e.dedupe_key is not None:
            fresh = await conn.fetchval(
                "INSERT INTO dedupe (channel_id, key, created_at_ms) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING TRUE",
                e.channel_id or "",
                e.dedupe_key,
                now,
            )
            if fresh is None:
                seqs.append(None)
                continue
        seq = heads[e.business_id] + 1
        heads[e.business_id] = seq
        await conn.execute(
            "INSERT INTO events (business_id, seq, id, channel_id, customer_id, kind,"
            " stored_at_ms, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            e.business_id,
            seq,
            e.id,
            e.channel_id,
            e.customer_id,
            e.kind,
            now,
            e.payload,
        )
        seqs.append(seq)
        if e.usage_metric is not None:
            await _add_usage(conn, e.business_id, e.channel_id or "", {e.usage_metric: 1}, now)
        if e.inbound and e.channel_id and e.customer_id:
            await conn.execute(
                "INSERT INTO contacts (channel_id, customer_id, last_inbound_ms)"
                " VALUES ($1, $2, $3) ON CONFLICT (channel_id, customer_id) DO UPDATE"
                " SET last_inbound_ms = GREATEST(contacts.last_inbound_ms,"
                " excluded.last_inbound_ms)",
                e.channel_id,
                e.customer_id,
                e.timestamp_ms,
            )
    for business_id, head in heads.items():
        if head != start[business_id]:
            await conn.execute(
                "UPDATE business_heads SET head = $2 WHERE business_id = $1", business_id, head
            )
            # Delivered at COMMIT, and only if it commits.
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, business_id)
    return seqs


async def _add_usage(
    conn: asyncpg.Connection,
    business_id: str,
    channel_id: str,
    deltas: Mapping[str, float],
    now_ms: int,
) -> None:
    day = utc_day(now_ms)
    metrics = sorted(deltas)  # rows locked in one order: two callers never wait in a circle
    # One statement, so the counters of one call change together (or not at all).
    await conn.execute(
        "INSERT INTO usage (business_id, channel_id, day, metric, value)"
        " SELECT $1, $2, $3, metric, value"
        " FROM UNNEST($4::text[], $5::float8[]) AS d(metric, value)"
        " ON CONFLICT (business_id, day, channel_id, metric)"
        " DO UPDATE SET value = usage.value + excluded.value",
        business_id,
        channel_id,
        day,
        metrics,
        [float(deltas[m]) for m in metrics],
    )
