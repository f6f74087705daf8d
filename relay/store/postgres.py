"""PostgreSQL driver: several relay processes share one database; LISTEN/NOTIFY wakes them.

Sequence numbers are counted per business. Every transaction that stores events first
locks its businesses' rows in ``business_heads`` (in sorted order, so two of them never
wait on each other), takes the next numbers from there and writes the new head back.
Two writers of one business therefore commit one after the other, and a seq becomes
visible only after every smaller seq of its business is visible: a stream reader that
has seen seq 11 can never later find a seq 10 it skipped, which a shared ``BIGSERIAL``
could not promise (11 may commit before 10). Numbers are dense per business except
where a channel's events were erased; seqs of different businesses overlap.

After a commit that woke businesses the store calls its listeners itself, and the same
transaction sends ``NOTIFY clientora_events, '<business id>'``; one connection per
store LISTENs and calls the listeners for commits of other processes. Notifications
from this store's own pool connections (known by server pid) are skipped, so every
listener hears of a commit once. While that connection is down (it reconnects with
backoff) other processes' commits go unheard; streams still poll at each heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from relay.store.base import CommitListener
from relay.store.port import Row, Tx, UniqueViolation
from relay.store.queries import SqlStore
from relay.store.schema import POSTGRES, migrate

__all__ = ["NOTIFY_CHANNEL", "PostgresStore"]

T = TypeVar("T")

NOTIFY_CHANNEL = "clientora_events"

log = logging.getLogger("clientora.relay.store")

# Any number: processes opening the same database at once take turns migrating it.
_SCHEMA_LOCK = 0x636C_6E74_6F72_61

# A deadlock needs rows locked in opposite orders (dedupe keys without a channel shared by
# two businesses, one business's usage counters); PostgreSQL aborts one side, which runs again.
_TRIES = 3


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no query holds a literal ``?``)."""
    count = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3`` (0 for ``CREATE TABLE``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._start: dict[str, int] = {}
        self._heads: dict[str, int] = {}
        self.woken: set[str] = set()

    async def execute(self, sql: str, *params: Any) -> int:
        try:
            return _count(await self._conn.execute(_numbered(sql) if params else sql, *params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from None

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._conn.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        try:
            return list(await self._conn.fetch(_numbered(sql), *params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from None

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        rows = await self.fetch(sql, *params)
        return rows[0] if rows else None

    async def lock_businesses(self, business_ids: Sequence[str]) -> None:
        # One statement for them all; rows are locked in the array's (sorted) order.
        missing = sorted(set(business_ids) - self._start.keys())
        if not missing:
            return
        rows = await self._conn.fetch(
            "INSERT INTO business_heads (business_id, head) SELECT b, 0 FROM unnest($1::text[]) b"
            " ON CONFLICT (business_id) DO UPDATE SET head = business_heads.head"
            " RETURNING business_id, head",
            missing,
        )
        for row in rows:
            self._start[row["business_id"]] = self._heads[row["business_id"]] = int(row["head"])

    async def next_seq(self, business_id: str) -> int:
        await self.lock_businesses([business_id])
        self._heads[business_id] += 1
        return self._heads[business_id]

    def wake(self, business_id: str) -> None:
        self.woken.add(business_id)

    async def finish(self) -> None:
        """Write the heads back and queue the wake-ups (delivered at COMMIT, if it commits)."""
        moved = [(b, head) for b, head in sorted(self._heads.items()) if head != self._start[b]]
        if moved:
            await self._conn.executemany(
                "UPDATE business_heads SET head = $2 WHERE business_id = $1", moved
            )
        if self.woken:
            await self._conn.executemany(
                "SELECT pg_notify($1, $2)", [(NOTIFY_CHANNEL, b) for b in sorted(self.woken)]
            )


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

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._lost.is_set()

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


class PostgresDatabase:
    """The ``Database`` port over a connection pool and one listening connection."""

    business_tables: tuple[str, ...] = ("business_heads",)

    def __init__(self, pool: asyncpg.Pool, own_pids: set[int]) -> None:
        self._pool = pool
        self._own_pids = own_pids
        self._listeners: list[CommitListener] = []
        self.listener: _Listener | None = None

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def hears_others(self) -> bool:
        return self.listener is not None and self.listener.listening

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        await self._pool.close()

    def _notify(self, business_ids: set[str]) -> None:
        for listener in self._listeners:
            try:
                listener(business_ids)
            except Exception:  # a listener's bug must not stop later notifications
                log.exception("a commit listener failed")

    def on_notification(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid not in self._own_pids:  # our own commits were heard when they returned
            self._notify({payload})

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return list(await self._pool.fetch(_numbered(sql), *params))

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = await self._pool.fetchrow(_numbered(sql), *params)
        return row

    async def write(self, sql: str, *params: Any) -> int:
        return await self.transact(lambda tx: tx.execute(sql, *params))

    async def transact(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        for attempt in range(1, _TRIES + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    tx = _PostgresTx(conn)
                    value = await op(tx)
                    await tx.finish()
            except asyncpg.DeadlockDetectedError:
                if attempt == _TRIES:
                    raise
                continue
            if tx.woken:
                self._notify(tx.woken)
            return value
        raise AssertionError("unreachable")

    async def scrub(self) -> None:
        return None  # VACUUM reclaims dead rows; PostgreSQL offers nothing sooner


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: as it is. The relay changes no
    session state (no SET, LISTEN, cursors or session advisory locks on pooled
    connections; asyncpg still rolls back an open transaction), so asyncpg's default
    reset would be a round trip per query that resets nothing."""


class PostgresStore(SqlStore):
    """The shared store (see module docstring)."""

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int = 10) -> PostgresStore:
        """Connect, migrate the schema and start listening for other processes."""
        own_pids: set[int] = set()

        async def track(conn: asyncpg.Connection) -> None:
            pid = int(conn.get_server_pid())
            own_pids.add(pid)
            conn.add_termination_listener(lambda _conn: own_pids.discard(pid))

        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, init=track, reset=_keep_session
        )
        db = PostgresDatabase(pool, own_pids)
        try:

            async def upgrade(tx: Tx) -> int:
                await tx.execute("SELECT pg_advisory_xact_lock(?)", _SCHEMA_LOCK)
                return await migrate(tx, POSTGRES)

            await db.transact(upgrade)
            db.listener = _Listener(dsn, db.on_notification)
            await db.listener.start()
        except BaseException:
            await pool.close()
            raise
        return cls(db)
