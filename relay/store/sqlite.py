"""SQLite driver: WAL, one writer connection with group commit, one reader connection.

Writes from every request are queued and committed together in one transaction, so
many concurrent webhooks cost one fsync. The stdlib driver is called on the event
loop: these statements take microseconds; only each batch's COMMIT (the WAL write, its
fsync and any checkpoint) runs on a thread (docs/decisions.md). The one writer numbers
events from a counter it keeps (``AUTOINCREMENT`` never hands out a number below it), so
numbers become visible in order; wake-ups are in-process only.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from relay.store.base import CommitListener
from relay.store.port import Row, Tx, UniqueViolation
from relay.store.queries import SqlStore
from relay.store.schema import SQLITE, migrate

__all__ = ["SqliteStore"]

T = TypeVar("T")

log = logging.getLogger("clientora.relay.store")

Op = Callable[[Tx], Awaitable[Any]]


def _now(op: Op, tx: _SqliteTx) -> Any:
    """Run ``op`` to its end at once. Its awaits are this driver's, which never suspend,
    so no other coroutine runs between the statements of a batch."""
    steps = op(tx).__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise RuntimeError("a store operation waited on something outside its transaction")


class _Counter:
    """The last event seq handed out (a rolled-back batch leaves a gap, never a repeat)."""

    def __init__(self) -> None:
        self._last: int | None = None

    def next(self, conn: sqlite3.Connection) -> int:
        if self._last is None:  # AUTOINCREMENT's own counter: the highest seq ever stored
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            self._last = int(row[0]) if row is not None else 0
        self._last += 1
        return self._last


class _SqliteTx:
    __slots__ = ("_conn", "_seqs", "woken")

    def __init__(self, conn: sqlite3.Connection, seqs: _Counter) -> None:
        self._conn = conn
        self._seqs = seqs
        self.woken: set[str] = set()

    async def execute(self, sql: str, *params: Any) -> int:
        return _run(self._conn, sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise _translated(exc) from None

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        # fetchall: a RETURNING statement must be finished before the batch commits.
        rows: list[Row] = _run(self._conn, sql, params).fetchall()
        return rows

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        rows = await self.fetch(sql, *params)
        return rows[0] if rows else None

    async def lock_businesses(self, business_ids: Sequence[str]) -> None:
        return None  # one writer: every transaction already runs alone

    async def next_seq(self, business_id: str) -> int:
        return self._seqs.next(self._conn)

    def wake(self, business_id: str) -> None:
        self.woken.add(business_id)


def _run(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.IntegrityError as exc:
        raise _translated(exc) from None


def _translated(exc: sqlite3.IntegrityError) -> Exception:
    if exc.sqlite_errorname in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return UniqueViolation(str(exc))
    return exc


class _GroupWriter:
    """Runs queued write operations together: one BEGIN/COMMIT for everything queued.

    The statements run on the event loop (microseconds each); only the COMMIT, which
    writes the WAL, waits for its fsync (``synchronous=FULL``) and now and then
    checkpoints, runs on a thread of its own: meanwhile the loop reads and parses the
    requests of the next batch, then answers this one. One hand-off per batch; moving
    every statement to a thread measured slower (docs/decisions.md).
    """

    def __init__(self, conn: sqlite3.Connection, woken: Callable[[set[str]], None]) -> None:
        self._conn = conn
        self._woken = woken
        self._seqs = _Counter()
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        #: Held while a batch's transaction is open (its COMMIT runs off the loop).
        self.busy = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    async def submit(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        if self._closed or self._task.done():
            raise RuntimeError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Finish the batch in flight (its COMMIT cannot be called back), fail the rest."""
        self._closed = True
        self._wake.set()
        await asyncio.wait([self._task])
        for _, future in self._pending:
            if not future.done():
                future.set_exception(RuntimeError("the store is closed"))
        # Waits for a COMMIT still running if the task was cancelled during it.
        self._committer.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            batch, self._pending = self._pending, []
            if not batch:
                continue
            async with self.busy:
                outcomes, woken = await self._commit([op for op, _ in batch])
            if woken:
                self._woken(woken)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _commit(self, ops: list[Op]) -> tuple[list[tuple[bool, Any]], set[str]]:
        """All operations in one transaction; if one fails, each is redone on its own, so
        one bad operation never sinks the group (savepoints per operation cost more)."""
        conn = self._conn
        txs = [self._tx() for _ in ops]
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [_now(op, tx) for op, tx in zip(ops, txs, strict=True)]
            await asyncio.get_running_loop().run_in_executor(self._committer, _commit, conn)
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            woken: set[str] = set()
            return [self._alone(op, woken) for op in ops], woken
        return [(True, value) for value in results], set().union(*(tx.woken for tx in txs))

    def _tx(self) -> _SqliteTx:
        return _SqliteTx(self._conn, self._seqs)

    def _alone(self, op: Op, woken: set[str]) -> tuple[bool, Any]:
        """One operation in its own transaction, committed on the loop (only after a
        batch failed, which is rare)."""
        conn = self._conn
        tx = self._tx()
        try:
            conn.execute("BEGIN IMMEDIATE")
            value = _now(op, tx)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False, exc
        woken |= tx.woken
        return True, value


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


class SqliteDatabase:
    """The ``Database`` port over one writer and one reader connection."""

    business_tables: tuple[str, ...] = ()

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self._wconn = writer
        self._rconn = reader
        self._listeners: list[CommitListener] = []
        self._writer = _GroupWriter(writer, self._notify)

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def hears_others(self) -> bool:
        return True  # one process writes a SQLite file

    def _notify(self, business_ids: set[str]) -> None:
        for listener in self._listeners:
            try:
                listener(business_ids)
            except Exception:  # a listener's bug must not fail the writes it heard of
                log.exception("a commit listener failed")

    async def close(self) -> None:
        await self._writer.close()
        self._wconn.close()
        self._rconn.close()

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        rows: list[Row] = self._rconn.execute(sql, params).fetchall()
        return rows

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = self._rconn.execute(sql, params).fetchone()
        return row

    async def write(self, sql: str, *params: Any) -> int:
        return await self._writer.submit(lambda tx: tx.execute(sql, *params))

    async def transact(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        return await self._writer.submit(op)

    async def scrub(self) -> None:
        """Copy the WAL into the database file and truncate it, so no old page image of a
        deleted row stays behind; between batches, as no transaction may be open."""
        async with self._writer.busy:
            busy, _, _ = self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("WAL checkpoint blocked by a reader; erased pages remain in the WAL")


class SqliteStore(SqlStore):
    """The embedded store: one process, zero set-up."""

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "full") -> SqliteStore:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = SqliteDatabase(_connect(path, synchronous), _connect(path, synchronous))
        try:
            await db.transact(lambda tx: migrate(tx, SQLITE))
        except BaseException:
            await db.close()
            raise
        return cls(db)


def _greatest(*values: Any) -> Any:
    """PostgreSQL's GREATEST: the largest argument, NULLs ignored."""
    return max((v for v in values if v is not None), default=None)


def _strpos(text: str | None, part: str | None) -> int | None:
    """PostgreSQL's strpos: where ``part`` starts in ``text`` (1-based), 0 if absent."""
    return None if text is None or part is None else text.find(part) + 1


def _connect(path: Path, synchronous: str = "full") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.create_function("greatest", -1, _greatest, deterministic=True)
    conn.create_function("strpos", 2, _strpos, deterministic=True)
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
