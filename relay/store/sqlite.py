"""SQLite store: WAL, one writer connection with group commit, one reader connection.

Writes from every request are queued and committed together in one transaction, so
many concurrent webhooks cost one fsync. The stdlib driver is
called on the event loop: these statements take microseconds, and moving the writer
to a thread measured slower here (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

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

__all__ = ["SqliteStore", "utc_day"]

T = TypeVar("T")

log = logging.getLogger("clientora.relay.store")

SCHEMA = """
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
"""


# Every table that names a business, in the order an account is erased (children first).
_BUSINESS_TABLES = (
    "sessions",
    "users",
    "devices",
    "events",
    "sends",
    "usage",
    "usage_warnings",
    "erasures",
    "meta_logins",
    "channel_health",
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return uuid.uuid4().hex


Op = Callable[[sqlite3.Connection], Any]


class _GroupWriter:
    """Runs queued write operations together: one BEGIN/COMMIT for everything queued.

    The transaction runs on the event loop: requests that arrive while it runs join the
    next batch. A dedicated writer thread measured slower here (more CPU per webhook
    from the hand-offs and GIL traffic than the overlap saved; docs/decisions.md).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._task.done():
            raise RuntimeError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        self._wake.set()
        return await future

    async def outside_transaction(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` with no transaction open (a checkpoint): batches commit synchronously
        on the loop, so none is open whenever a coroutine runs."""
        return op(self._conn)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for _, future in self._pending:
            if not future.done():
                future.set_exception(RuntimeError("the store is closed"))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            outcomes = self._commit([op for op, _ in batch])
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        """All operations in one transaction; if one fails, each is redone on its own, so
        one bad operation never sinks the group (savepoints per operation cost more)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [op(conn) for op in ops]
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [self._alone(op) for op in ops]
        return [(True, value) for value in results]

    def _alone(self, op: Op) -> tuple[bool, Any]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            value = op(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False, exc
        return True, value


class SqliteStore:
    """The embedded store (see module docstring)."""

    def __init__(self, writer_conn: sqlite3.Connection, reader_conn: sqlite3.Connection) -> None:
        self._wconn = writer_conn
        self._rconn = reader_conn
        self._writer = _GroupWriter(writer_conn)
        self._listeners: list[CommitListener] = []

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "full") -> SqliteStore:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        writer = _connect(path, synchronous)
        writer.executescript(SCHEMA)
        reader = _connect(path, synchronous)
        return cls(writer, reader)

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        await self._writer.close()
        self._wconn.close()
        self._rconn.close()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._rconn.execute(sql, params).fetchall()

    # ---- accounts -------------------------------------------------------------------

    async def create_business(
        self, business_name: str, user_name: str, email: str, password_hash: str
    ) -> UserRow:
        user = UserRow(_new_id(), _new_id(), user_name, email.strip().lower(), password_hash)

        def op(conn: sqlite3.Connection) -> UserRow:
            now = _now_ms()
            conn.execute(
                "INSERT INTO businesses (id, name, created_at_ms) VALUES (?, ?, ?)",
                (user.business_id, business_name, now),
            )
            try:
                conn.execute(
                    "INSERT INTO users (id, business_id, name, email, password_hash, created_at_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (user.id, user.business_id, user.name, user.email, password_hash, now),
                )
            except sqlite3.IntegrityError:
                raise Conflict("an account with this e-mail already exists") from None
            return user

        return await self._writer.submit(op)

    async def user_by_email(self, email: str) -> UserRow | None:
        rows = self._read(
            "SELECT id, business_id, name, email, password_hash FROM users WHERE email = ?",
            (email.strip().lower(),),
        )
        return UserRow(*rows[0]) if rows else None

    async def user(self, business_id: str, user_id: str) -> UserRow | None:
        rows = self._read(
            "SELECT id, business_id, name, email, password_hash FROM users"
            " WHERE id = ? AND business_id = ?",
            (user_id, business_id),
        )
        return UserRow(*rows[0]) if rows else None

    async def set_password(self, business_id: str, user_id: str, password_hash: str) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE users SET password_hash = ? WHERE id = ? AND business_id = ?",
                (password_hash, user_id, business_id),
            )
        )

    async def create_session(self, token_hash: str, user: UserRow, expires_at_ms: int) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "INSERT INTO sessions (token_hash, user_id, business_id, expires_at_ms)"
                " VALUES (?, ?, ?, ?)",
                (token_hash, user.id, user.business_id, expires_at_ms),
            )
        )

    async def session(self, token_hash: str, now_ms: int) -> SessionRow | None:
        rows = self._read(
            "SELECT user_id, business_id, expires_at_ms FROM sessions"
            " WHERE token_hash = ? AND revoked = 0 AND expires_at_ms > ?",
            (token_hash, now_ms),
        )
        return SessionRow(*rows[0]) if rows else None

    async def revoke_session(self, token_hash: str) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE sessions SET revoked = 1 WHERE token_hash = ?", (token_hash,)
            )
        )

    async def revoke_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE sessions SET revoked = 1 WHERE user_id = ? AND token_hash IS NOT ?"
                " AND revoked = 0",
                (user_id, keep),
            )
            return cur.rowcount

        return await self._writer.submit(op)

    # ---- devices --------------------------------------------------------------------

    async def create_device(self, business_id: str, name: str) -> DeviceRow:
        device = DeviceRow(_new_id(), business_id, name, 0, _now_ms())
        await self._writer.submit(
            lambda c: c.execute(
                "INSERT INTO devices (id, business_id, name, cursor, created_at_ms)"
                " VALUES (?, ?, ?, 0, ?)",
                (device.id, business_id, name, device.created_at_ms),
            )
        )
        return device

    async def device(self, business_id: str, device_id: str) -> DeviceRow | None:
        rows = self._read(
            "SELECT id, business_id, name, cursor, created_at_ms FROM devices"
            " WHERE id = ? AND business_id = ?",
            (device_id, business_id),
        )
        return DeviceRow(*rows[0]) if rows else None

    async def devices(self, business_id: str) -> list[DeviceRow]:
        rows = self._read(
            "SELECT id, business_id, name, cursor, created_at_ms FROM devices"
            " WHERE business_id = ? ORDER BY created_at_ms",
            (business_id,),
        )
        return [DeviceRow(*r) for r in rows]

    async def advance_cursor(self, business_id: str, device_id: str, seq: int) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE devices SET cursor = MAX(cursor, ?) WHERE id = ? AND business_id = ?",
                (seq, device_id, business_id),
            )
        )

    # ---- channels -------------------------------------------------------------------

    _CHANNEL_COLUMNS = (
        "id, business_id, platform, external_id, name, status, key_id, secret, created_at_ms"
    )

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

        def op(conn: sqlite3.Connection) -> ChannelRow:
            try:
                conn.execute(
                    f"INSERT INTO channels ({self._CHANNEL_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            except sqlite3.IntegrityError:
                raise Conflict(f"this {platform} account is already connected") from None
            return row

        return await self._writer.submit(op)

    async def channels(self, business_id: str) -> list[ChannelRow]:
        rows = self._read(
            f"SELECT {self._CHANNEL_COLUMNS} FROM channels WHERE business_id = ?"
            " ORDER BY created_at_ms",
            (business_id,),
        )
        return [ChannelRow(*r) for r in rows]

    async def channel(self, business_id: str, channel_id: str) -> ChannelRow | None:
        rows = self._read(
            f"SELECT {self._CHANNEL_COLUMNS} FROM channels WHERE id = ? AND business_id = ?",
            (channel_id, business_id),
        )
        return ChannelRow(*rows[0]) if rows else None

    async def channel_by_id(self, channel_id: str) -> ChannelRow | None:
        rows = self._read(
            f"SELECT {self._CHANNEL_COLUMNS} FROM channels WHERE id = ?", (channel_id,)
        )
        return ChannelRow(*rows[0]) if rows else None

    async def all_channels(self) -> list[ChannelRow]:
        return [ChannelRow(*r) for r in self._read(f"SELECT {self._CHANNEL_COLUMNS} FROM channels")]

    async def set_channel_status(self, business_id: str, channel_id: str, status: str) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE channels SET status = ? WHERE id = ? AND business_id = ?",
                (status, channel_id, business_id),
            )
        )

    async def replace_secret(
        self, business_id: str, channel_id: str, key_id: str, secret: bytes
    ) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE channels SET key_id = ?, secret = ? WHERE id = ? AND business_id = ?",
                (key_id, secret, channel_id, business_id),
            )
        )

    async def delete_channel(
        self, business_id: str, channel_id: str, farewell: NewEvent | None
    ) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM channels WHERE id = ? AND business_id = ?", (channel_id, business_id)
            )
            if cur.rowcount == 0:
                return False
            conn.execute(
                "DELETE FROM events WHERE channel_id = ? AND business_id = ?",
                (channel_id, business_id),
            )
            for table in ("dedupe", "contacts", "sends"):
                conn.execute(f"DELETE FROM {table} WHERE channel_id = ?", (channel_id,))
            if farewell is not None:
                _insert_events(conn, [farewell])
            return True

        deleted = await self._writer.submit(op)
        if deleted and farewell is not None:
            self._notify({business_id})
        return deleted

    # ---- event log ------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[int | None]:
        if not events:
            return []
        seqs = await self._writer.submit(lambda c: _insert_events(c, events))
        self._notify({e.business_id for e, s in zip(events, seqs, strict=True) if s is not None})
        return seqs

    def _notify(self, business_ids: set[str]) -> None:
        if business_ids:
            for listener in self._listeners:
                listener(business_ids)

    async def events_after(self, business_id: str, after: int, limit: int) -> list[StoredEvent]:
        rows = self._read(
            "SELECT seq, id, stored_at_ms, payload FROM events"
            " WHERE business_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (business_id, after, limit),
        )
        return [StoredEvent(*r) for r in rows]

    async def head(self, business_id: str) -> int:
        rows = self._read("SELECT MAX(seq) FROM events WHERE business_id = ?", (business_id,))
        return int(rows[0][0] or 0)

    async def customer_events(
        self, channel_id: str, customer_id: str, after: int, limit: int
    ) -> list[StoredEvent]:
        rows = self._read(
            "SELECT seq, id, stored_at_ms, payload FROM events"
            " WHERE channel_id = ? AND customer_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (channel_id, customer_id, after, limit),
        )
        return [StoredEvent(*r) for r in rows]

    async def last_inbound(self, channel_id: str, customer_id: str) -> int | None:
        rows = self._read(
            "SELECT last_inbound_ms FROM contacts WHERE channel_id = ? AND customer_id = ?",
            (channel_id, customer_id),
        )
        return int(rows[0][0]) if rows else None

    # ---- sends ----------------------------------------------------------------------

    async def claim_send(
        self,
        business_id: str,
        key: str,
        fingerprint: str,
        channel_id: str,
        auto_reply_to: str | None,
    ) -> SendClaim:
        def op(conn: sqlite3.Connection) -> SendClaim:
            row = conn.execute(
                "SELECT id, state, fingerprint, result, seq FROM sends"
                " WHERE business_id = ? AND key = ?",
                (business_id, key),
            ).fetchone()
            if row is not None:
                return SendClaim(row[0], row[1], row[2], row[3], row[4])
            send_id = _new_id()
            try:
                conn.execute(
                    "INSERT INTO sends (id, business_id, key, fingerprint, channel_id,"
                    " auto_reply_to, state, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (send_id, business_id, key, fingerprint, channel_id, auto_reply_to, _now_ms()),
                )
            except sqlite3.IntegrityError:
                return SendClaim("", "already_replied", fingerprint, None)
            return SendClaim(send_id, "new", fingerprint, None)

        return await self._writer.submit(op)

    async def finish_send(self, send_id: str, ok: bool, result: bytes, event: NewEvent) -> int:
        def op(conn: sqlite3.Connection) -> int:
            seq = _insert_events(conn, [event])[0]
            conn.execute(
                "UPDATE sends SET state = ?, result = ?, seq = ? WHERE id = ?",
                ("sent" if ok else "failed", result, seq, send_id),
            )
            if seq is None:
                raise RuntimeError("a send's event was taken for a duplicate")
            return seq

        seq = await self._writer.submit(op)
        self._notify({event.business_id})
        return seq

    async def release_send(self, send_id: str) -> None:
        await self._writer.submit(lambda c: c.execute("DELETE FROM sends WHERE id = ?", (send_id,)))

    # ---- usage ----------------------------------------------------------------------

    async def add_usage(
        self, business_id: str, channel_id: str, deltas: Mapping[str, float], now_ms: int
    ) -> None:
        await self._writer.submit(lambda c: _add_usage(c, business_id, channel_id, deltas, now_ms))

    async def usage(self, business_id: str, first_day: str, last_day: str) -> list[UsageRow]:
        rows = self._read(
            "SELECT channel_id, day, metric, value FROM usage"
            " WHERE business_id = ? AND day BETWEEN ? AND ? ORDER BY day, channel_id, metric",
            (business_id, first_day, last_day),
        )
        return [UsageRow(*r) for r in rows]

    async def claim_warning(self, business_id: str, key: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO usage_warnings (business_id, key) VALUES (?, ?)",
                (business_id, key),
            )
            return cur.rowcount == 1

        return await self._writer.submit(op)

    # ---- erasure --------------------------------------------------------------------

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it, so no old page image of
        a deleted row stays behind. Runs between two batches, with no transaction open."""

        def checkpoint(conn: sqlite3.Connection) -> None:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                log.warning("WAL checkpoint blocked by a reader; erased pages remain in the WAL")

        await self._writer.outside_transaction(checkpoint)

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

        def op(conn: sqlite3.Connection) -> ErasureRow | None:
            found = conn.execute(
                "SELECT c.platform, c.name, b.name FROM channels c"
                " JOIN businesses b ON b.id = c.business_id WHERE c.id = ? AND c.business_id = ?",
                (channel_id, business_id),
            ).fetchone()
            if found is None:
                return None
            erased = conn.execute(
                "DELETE FROM events WHERE business_id = ? AND channel_id = ? AND customer_id = ?"
                " RETURNING seq, kind, payload",
                (business_id, channel_id, customer_id),
            ).fetchall()
            keys = sorted({k for _, kind, body in erased if (k := dedupe_key_of(kind, body))})
            dedupe = conn.execute(
                "DELETE FROM dedupe WHERE channel_id = ? AND (instr(key, ?) > 0"
                " OR key IN (SELECT value FROM json_each(?)))",
                (channel_id, customer_id, json.dumps(keys)),
            ).rowcount
            contacts = conn.execute(
                "DELETE FROM contacts WHERE channel_id = ? AND customer_id = ?",
                (channel_id, customer_id),
            ).rowcount
            # A finished send's seq is its event's: the sends that made erased events.
            sends = conn.execute(
                "DELETE FROM sends WHERE business_id = ? AND channel_id = ?"
                " AND seq IN (SELECT value FROM json_each(?))",
                (business_id, channel_id, json.dumps([row[0] for row in erased])),
            ).rowcount
            row = ErasureRow(
                request_id=request_id,
                business_id=business_id,
                business_name=found[2],
                channel_id=channel_id,
                platform=found[0],
                channel_name=found[1],
                erased_at_ms=event.timestamp_ms,
                events=len(erased),
                contacts=contacts,
                dedupe_keys=dedupe,
                sends=sends,
                deletion_code=deletion_code,
            )
            conn.execute(
                "INSERT INTO erasures (request_id, business_id, channel_id, platform,"
                " channel_name, erased_at_ms, events, contacts, dedupe_keys, sends, deletion_code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                ),
            )
            _insert_events(conn, [event])
            return row

        row = await self._writer.submit(op)
        if row is not None:
            self._notify({business_id})
            await self._checkpoint()
        return row

    async def channels_with_customer(
        self, customer_id: str, platforms: Sequence[str]
    ) -> list[ChannelRow]:
        marks = ", ".join("?" for _ in platforms)
        rows = self._read(
            f"SELECT {self._CHANNEL_COLUMNS} FROM channels WHERE platform IN ({marks}) AND ("
            " EXISTS (SELECT 1 FROM events WHERE events.channel_id = channels.id"
            " AND events.customer_id = ?)"
            " OR EXISTS (SELECT 1 FROM contacts WHERE contacts.channel_id = channels.id"
            " AND contacts.customer_id = ?)) ORDER BY created_at_ms, id",
            (*platforms, customer_id, customer_id),
        )
        return [ChannelRow(*r) for r in rows]

    async def erasure(self, business_id: str, request_id: str) -> ErasureRow | None:
        rows = self._read(
            f"SELECT {ERASURE_COLUMNS} FROM {ERASURE_FROM}"
            " WHERE e.request_id = ? AND e.business_id = ?",
            (request_id, business_id),
        )
        return ErasureRow(*rows[0]) if rows else None

    async def erasures_for_request(self, deletion_code: str) -> list[ErasureRow]:
        rows = self._read(
            f"SELECT {ERASURE_COLUMNS} FROM {ERASURE_FROM}"
            " WHERE e.deletion_code = ? ORDER BY e.erased_at_ms, e.request_id",
            (deletion_code,),
        )
        return [ErasureRow(*r) for r in rows]

    async def confirm_erasure(
        self, business_id: str, request_id: str, device_id: str, counts: bytes, now_ms: int
    ) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            erasure = conn.execute(
                "SELECT 1 FROM erasures WHERE request_id = ? AND business_id = ?",
                (request_id, business_id),
            ).fetchone()
            device = conn.execute(
                "SELECT name FROM devices WHERE id = ? AND business_id = ?",
                (device_id, business_id),
            ).fetchone()
            if erasure is None or device is None:
                return False
            conn.execute(
                "INSERT OR IGNORE INTO erasure_confirmations"
                " (request_id, device_id, device_name, confirmed_at_ms, counts)"
                " VALUES (?, ?, ?, ?, ?)",
                (request_id, device_id, device[0], now_ms, counts),
            )
            return True

        return await self._writer.submit(op)

    async def erasure_confirmations(
        self, business_id: str, request_id: str
    ) -> list[ConfirmationRow]:
        rows = self._read(
            "SELECT c.request_id, c.device_id, c.device_name, c.confirmed_at_ms, c.counts"
            " FROM erasure_confirmations c JOIN erasures e ON e.request_id = c.request_id"
            " WHERE c.request_id = ? AND e.business_id = ?"
            " ORDER BY c.confirmed_at_ms, c.device_id",
            (request_id, business_id),
        )
        return [ConfirmationRow(*r) for r in rows]

    async def add_deletion_request(self, row: DeletionRequestRow) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "INSERT INTO deletion_requests (code, received_at_ms, channels, events)"
                " VALUES (?, ?, ?, ?)",
                (row.code, row.received_at_ms, row.channels, row.events),
            )
        )

    async def deletion_request(self, code: str) -> DeletionRequestRow | None:
        rows = self._read(
            "SELECT code, received_at_ms, channels, events FROM deletion_requests WHERE code = ?",
            (code,),
        )
        return DeletionRequestRow(*rows[0]) if rows else None

    async def delete_business(self, business_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM businesses WHERE id = ?", (business_id,)).fetchone():
                channels = conn.execute(
                    "SELECT id FROM channels WHERE business_id = ?", (business_id,)
                ).fetchall()
                for table in ("dedupe", "contacts"):
                    conn.executemany(f"DELETE FROM {table} WHERE channel_id = ?", channels)
                for table in (*_BUSINESS_TABLES, "channels"):
                    conn.execute(f"DELETE FROM {table} WHERE business_id = ?", (business_id,))
                conn.execute("DELETE FROM businesses WHERE id = ?", (business_id,))
                return True
            return False

        deleted = await self._writer.submit(op)
        if deleted:
            self._notify({business_id})  # its streams wake, find their session gone, close
            await self._checkpoint()
        return deleted

    # ---- retention ------------------------------------------------------------------

    async def expire(self, cutoffs: RetentionCutoffs, batch: int) -> RetentionCounts:
        counts = RetentionCounts(
            acked_events=await self._in_batches(_EXPIRE_ACKED, cutoffs.acked_before_ms, batch),
            unacked_events=await self._in_batches(
                _EXPIRE_UNACKED, cutoffs.unacked_before_ms, batch
            ),
            dedupe_keys=await self._in_batches(_EXPIRE_DEDUPE, cutoffs.keys_before_ms, batch),
            sends=await self._in_batches(_EXPIRE_SENDS, cutoffs.keys_before_ms, batch),
            contacts=await self._in_batches(_EXPIRE_CONTACTS, cutoffs.contacts_before_ms, batch),
        )
        if counts != RetentionCounts():
            await self._checkpoint()
        return counts

    async def _in_batches(self, sql: str, before_ms: int, batch: int) -> int:
        """Run a ``DELETE ... LIMIT ?`` until it deletes fewer than ``batch`` rows; each
        run is its own write, so other writes go in between."""
        total = 0
        while True:
            deleted = await self._writer.submit(
                lambda c: c.execute(sql, (before_ms, batch)).rowcount
            )
            total += deleted
            if deleted < batch:
                return total

    # ---- channel onboarding -----------------------------------------------------------

    async def create_meta_login(self, row: MetaLoginRow) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM meta_logins WHERE expires_at_ms < ?", (row.created_at_ms,))
            conn.execute(
                f"INSERT INTO meta_logins ({LOGIN_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                    int(row.state_used),
                ),
            )

        await self._writer.submit(op)

    async def meta_login(self, business_id: str, login_id: str) -> MetaLoginRow | None:
        rows = self._read(
            f"SELECT {LOGIN_COLUMNS} FROM meta_logins WHERE id = ? AND business_id = ?",
            (login_id, business_id),
        )
        return login_row(rows[0]) if rows else None

    async def meta_login_by_state(self, state_hash: str) -> MetaLoginRow | None:
        rows = self._read(
            f"SELECT {LOGIN_COLUMNS} FROM meta_logins WHERE state_hash = ?", (state_hash,)
        )
        return login_row(rows[0]) if rows else None

    async def claim_meta_login(self, state_hash: str, now_ms: int) -> MetaLoginRow | None:
        def op(conn: sqlite3.Connection) -> MetaLoginRow | None:
            # fetchall: a RETURNING statement must be finished before the batch commits.
            rows = conn.execute(
                "UPDATE meta_logins SET state_used = 1 WHERE state_hash = ? AND state_used = 0"
                f" AND status = 'pending' AND expires_at_ms > ? RETURNING {LOGIN_COLUMNS}",
                (state_hash, now_ms),
            ).fetchall()
            return login_row(rows[0]) if rows else None

        return await self._writer.submit(op)

    async def update_meta_login(
        self,
        login_id: str,
        status: str,
        message: str | None,
        key_id: str,
        listing: bytes | None,
        expires_at_ms: int,
    ) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "UPDATE meta_logins SET status = ?, message = ?, key_id = ?, listing = ?,"
                " expires_at_ms = ? WHERE id = ?",
                (status, message, key_id, listing, expires_at_ms, login_id),
            )
        )

    async def expire_meta_logins(self, now_ms: int) -> int:
        return await self._writer.submit(
            lambda c: (
                c.execute(
                    "DELETE FROM meta_logins WHERE expires_at_ms < ?"
                    " OR business_id NOT IN (SELECT id FROM businesses)",
                    (now_ms,),
                ).rowcount
            )
        )

    # ---- channel health ---------------------------------------------------------------

    async def save_channel_health(self, row: ChannelHealthRow) -> None:
        await self._writer.submit(
            lambda c: c.execute(
                "INSERT INTO channel_health (channel_id, business_id, node_id, avatar_url, checks)"
                " SELECT id, business_id, ?, ?, ? FROM channels WHERE id = ? AND business_id = ?"
                " ON CONFLICT (channel_id) DO UPDATE SET node_id = excluded.node_id,"
                " avatar_url = excluded.avatar_url, checks = excluded.checks",
                (row.node_id, row.avatar_url, row.checks, row.channel_id, row.business_id),
            )
        )

    async def record_channel_activity(
        self,
        events: Mapping[str, int],
        sends: Mapping[str, tuple[int, bool, str | None]],
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_event_at_ms)"
                " SELECT id, business_id, ? FROM channels WHERE id = ?"
                " ON CONFLICT (channel_id) DO UPDATE SET last_event_at_ms ="
                " MAX(COALESCE(last_event_at_ms, 0), excluded.last_event_at_ms)",
                [(at_ms, channel_id) for channel_id, at_ms in events.items()],
            )
            conn.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_send_at_ms,"
                " last_send_ok, last_send_error) SELECT id, business_id, ?, ?, ? FROM channels"
                " WHERE id = ? ON CONFLICT (channel_id) DO UPDATE SET"
                " last_send_at_ms = excluded.last_send_at_ms,"
                " last_send_ok = excluded.last_send_ok, last_send_error = excluded.last_send_error"
                " WHERE COALESCE(last_send_at_ms, 0) <= excluded.last_send_at_ms",
                [
                    (at_ms, int(ok), error, channel_id)
                    for channel_id, (at_ms, ok, error) in sends.items()
                ],
            )

        if events or sends:
            await self._writer.submit(op)

    async def channel_health(self, business_id: str, channel_id: str) -> ChannelHealthRow | None:
        rows = self._read(
            f"SELECT {HEALTH_COLUMNS} FROM channel_health WHERE channel_id = ? AND business_id = ?",
            (channel_id, business_id),
        )
        return health_row(rows[0]) if rows else None

    async def channels_health(self, business_id: str) -> list[ChannelHealthRow]:
        rows = self._read(
            f"SELECT {HEALTH_COLUMNS} FROM channel_health WHERE business_id = ?", (business_id,)
        )
        return [health_row(r) for r in rows]

    async def channels_on_node(self, node_id: str) -> list[str]:
        rows = self._read(
            "SELECT h.channel_id FROM channel_health h JOIN channels c ON c.id = h.channel_id"
            " WHERE h.node_id = ? ORDER BY h.channel_id",
            (node_id,),
        )
        return [str(r[0]) for r in rows]

    async def forget_channel_health(self, channel_id: str | None = None) -> int:
        if channel_id is not None:
            return await self._writer.submit(
                lambda c: (
                    c.execute(
                        "DELETE FROM channel_health WHERE channel_id = ?", (channel_id,)
                    ).rowcount
                )
            )
        return await self._writer.submit(
            lambda c: (
                c.execute(
                    "DELETE FROM channel_health WHERE channel_id NOT IN (SELECT id FROM channels)"
                ).rowcount
            )
        )


# Retention deletes: each takes (cutoff, batch size). An event counts as acknowledged
# once every device of its business has a cursor at or past it (no devices: never).
_EXPIRE_ACKED = (
    "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e JOIN"
    " (SELECT business_id, MIN(cursor) AS acked FROM devices GROUP BY business_id) d"
    " ON d.business_id = e.business_id WHERE e.stored_at_ms < ? AND e.seq <= d.acked LIMIT ?)"
)
_EXPIRE_UNACKED = (
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE stored_at_ms < ? LIMIT ?)"
)
_EXPIRE_DEDUPE = (
    "DELETE FROM dedupe WHERE (channel_id, key) IN"
    " (SELECT channel_id, key FROM dedupe WHERE created_at_ms < ? LIMIT ?)"
)
_EXPIRE_SENDS = (
    "DELETE FROM sends WHERE id IN (SELECT id FROM sends WHERE created_at_ms < ? LIMIT ?)"
)
_EXPIRE_CONTACTS = (
    "DELETE FROM contacts WHERE (channel_id, customer_id) IN"
    " (SELECT channel_id, customer_id FROM contacts WHERE last_inbound_ms < ? LIMIT ?)"
)


def _insert_events(conn: sqlite3.Connection, events: Sequence[NewEvent]) -> list[int | None]:
    now = _now_ms()
    seqs: list[int | None] = []
    for e in events:
        if e.dedupe_key is not None:
            cur = conn.execute(
                "INSERT OR IGNORE INTO dedupe (channel_id, key, created_at_ms) VALUES (?, ?, ?)",
                (e.channel_id or "", e.dedupe_key, now),
            )
            if cur.rowcount == 0:
                seqs.append(None)
                continue
        cur = conn.execute(
            "INSERT INTO events (id, business_id, channel_id, customer_id, kind, stored_at_ms,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (e.id, e.business_id, e.channel_id, e.customer_id, e.kind, now, e.payload),
        )
        seqs.append(cur.lastrowid)
        if e.usage_metric is not None:
            _add_usage(conn, e.business_id, e.channel_id or "", {e.usage_metric: 1}, now)
        if e.inbound and e.channel_id and e.customer_id:
            conn.execute(
                "INSERT INTO contacts (channel_id, customer_id, last_inbound_ms) VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET last_inbound_ms ="
                " MAX(last_inbound_ms, excluded.last_inbound_ms)",
                (e.channel_id, e.customer_id, e.timestamp_ms),
            )
    return seqs


def utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def _add_usage(
    conn: sqlite3.Connection,
    business_id: str,
    channel_id: str,
    deltas: Mapping[str, float],
    now_ms: int,
) -> None:
    day = utc_day(now_ms)
    conn.executemany(
        "INSERT INTO usage (business_id, channel_id, day, metric, value) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET value = value + excluded.value",
        [(business_id, channel_id, day, metric, value) for metric, value in deltas.items()],
    )


def _connect(path: Path, synchronous: str = "full") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, not only a killed process; group commit pays for it.
    conn.execute(
        "PRAGMA synchronous=NORMAL" if synchronous == "normal" else "PRAGMA synchronous=FULL"
    )
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, so an erased customer's text is really gone.
    conn.execute("PRAGMA secure_delete=ON")
    return conn
