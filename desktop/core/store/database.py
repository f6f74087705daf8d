"""The local store: one SQLite file, a writer thread and a reader thread, async methods.

Every database call runs on one of two dedicated threads, never on the event loop: the
writer thread owns the only writing connection (so writes are serialised without locks
and each method is one transaction), the reader thread answers queries from a second
connection (WAL: readers see the last commit and never wait for a writer). After a write
commits, its :mod:`changes <desktop.core.store.changes>` are emitted on the loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Final, TypeVar

import msgspec

from common.erasure import customer_hash
from common.protocol import ChannelInfo, EventFrame

from . import conversations as conv_edits
from . import drafts as draft_edits
from . import outgoing, queries, stats
from .changes import Change, ChangeFeed, ChannelsChanged
from .events import EventWriter
from .models import (
    AssistantStats,
    Author,
    Channel,
    Conversation,
    ConversationQuery,
    ConversationStatus,
    Customer,
    Draft,
    Message,
    NewDraft,
    OutboxItem,
    PauseReason,
    SkippedEvent,
    UsageNotice,
)
from .schema import connect, migrate

__all__ = ["AppliedBatch", "Identity", "Store", "WrongBusiness", "now_ms"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Applied event ids are kept this long for dedupe (the relay forgets far sooner).
APPLIED_EVENTS_KEPT_MS: Final = 30 * 24 * 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class AppliedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What one :meth:`Store.apply_events` call did; ``cursor`` is now committed."""

    cursor: int
    applied: int
    duplicates: int
    failed: int


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """Whose data this file holds, and this computer's device id at the relay."""

    business_id: str | None
    device_id: str | None


class WrongBusiness(Exception):
    """The store holds another business's data: open a different file."""


class Store:
    """The desktop's conversations, messages, drafts, channels and sync cursor.

    Open with ``await Store.open(path)`` (or ``async with await Store.open(path)``);
    subscribe to ``store.changes`` for what changed. Every method is safe to call from
    the event loop: the work runs on the store's own threads.
    """

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        write_thread: ThreadPoolExecutor,
        read_thread: ThreadPoolExecutor,
        clock: Callable[[], int],
    ) -> None:
        self.path = path
        self.changes = ChangeFeed()
        self._writer = writer
        self._reader = reader
        self._write_thread = write_thread
        self._read_thread = read_thread
        self._clock = clock
        self._device_id: str | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, *, clock: Callable[[], int] = now_ms) -> Store:
        """Open (creating or upgrading) the store file at ``path``."""
        path = Path(path)
        loop = asyncio.get_running_loop()
        write_thread = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        read_thread = ThreadPoolExecutor(1, thread_name_prefix="store-reader")

        def open_writer() -> sqlite3.Connection:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(path)
            _register_functions(conn)
            migrate(conn)
            conn.execute(
                "DELETE FROM applied_events WHERE applied_at_ms < ?",
                (clock() - APPLIED_EVENTS_KEPT_MS,),
            )
            return conn

        def open_reader() -> sqlite3.Connection:
            conn = connect(path)
            _register_functions(conn)
            conn.execute("PRAGMA query_only = ON")
            return conn

        try:
            writer = await loop.run_in_executor(write_thread, open_writer)
            reader = await loop.run_in_executor(read_thread, open_reader)
        except BaseException:
            write_thread.shutdown(wait=False)
            read_thread.shutdown(wait=False)
            raise
        store = cls(path, writer, reader, write_thread, read_thread, clock)
        store._device_id = (await store.identity()).device_id
        return store

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._read_thread, self._reader.close)
        await loop.run_in_executor(self._write_thread, self._writer.close)
        self._read_thread.shutdown(wait=True)
        self._write_thread.shutdown(wait=True)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- plumbing -------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_thread, fn, self._reader)

    async def _write(
        self, fn: Callable[[sqlite3.Connection, int], tuple[T, Iterable[Change]]]
    ) -> T:
        """Run ``fn`` in one transaction on the writer thread, then emit its changes."""
        loop = asyncio.get_running_loop()
        result, changes = await loop.run_in_executor(self._write_thread, self._transaction, fn)
        self.changes.emit(changes)
        return result

    def _transaction(
        self, fn: Callable[[sqlite3.Connection, int], tuple[T, Iterable[Change]]]
    ) -> tuple[T, list[Change]]:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            result, changes = fn(conn, self._clock())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result, list(changes)

    # ---- identity and the stream cursor ------------------------------------------------

    async def identity(self) -> Identity:
        def read(conn: sqlite3.Connection) -> Identity:
            values = dict(
                conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('business_id', 'device_id')"
                ).fetchall()
            )
            return Identity(
                business_id=values.get("business_id"), device_id=values.get("device_id")
            )

        return await self._read(read)

    async def set_identity(self, business_id: str, device_id: str) -> None:
        """Record the business and device; refuses a file that holds another business."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[None, list[Change]]:
            row = conn.execute("SELECT value FROM meta WHERE key = 'business_id'").fetchone()
            if row is not None and row[0] != business_id:
                raise WrongBusiness(
                    "This local store belongs to another business; open that business's file."
                )
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [("business_id", business_id), ("device_id", device_id)],
            )
            return None, []

        await self._write(write)
        self._device_id = device_id

    async def cursor(self) -> int:
        """The sequence number of the last event committed here (0: none yet)."""

        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
            return int(row[0]) if row else 0

        return await self._read(read)

    async def reset_cursor(self, seq: int) -> None:
        """Move the cursor back (the relay's log is shorter than ours: it was reset)."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[None, list[Change]]:
            _set_cursor(conn, seq)
            return None, []

        await self._write(write)

    async def apply_events(self, frames: Sequence[EventFrame | SkippedEvent]) -> AppliedBatch:
        """Store stream events in one transaction, skipping ids already applied.

        When this returns the events and the new cursor are committed: only then may
        the relay be told (acknowledged). An event that fails to apply (a bug, or data
        this version cannot hold) is logged, recorded with its error and skipped, so one
        bad event never stops the stream; so is a :class:`SkippedEvent`.
        """
        own_device = self._device_id
        erased = False

        def write(conn: sqlite3.Connection, now: int) -> tuple[AppliedBatch, list[Change]]:
            nonlocal erased
            writer = EventWriter(conn, own_device, now)
            applied = duplicates = failed = 0
            cursor = _get_cursor(conn)
            for frame in frames:
                cursor = frame.seq
                if conn.execute(
                    "SELECT 1 FROM applied_events WHERE id = ?", (frame.id,)
                ).fetchone():
                    duplicates += 1
                    continue
                if isinstance(frame, SkippedEvent):
                    failed += 1
                    log.warning("unreadable event skipped", extra={"event_id": frame.id})
                    conn.execute(
                        "INSERT INTO applied_events (id, seq, applied_at_ms, error)"
                        " VALUES (?, ?, ?, ?)",
                        (frame.id, frame.seq, now, frame.error),
                    )
                    continue
                error = None
                conn.execute("SAVEPOINT event")
                mark = len(writer.changes)
                try:
                    writer.apply(frame.event)
                    conn.execute("RELEASE event")
                    applied += 1
                except Exception as exc:
                    conn.execute("ROLLBACK TO event")
                    conn.execute("RELEASE event")
                    del writer.changes[mark:]
                    failed += 1
                    error = f"{type(exc).__name__}: {exc}"
                    log.exception("event could not be applied", extra={"event_id": frame.id})
                conn.execute(
                    "INSERT INTO applied_events (id, seq, applied_at_ms, error)"
                    " VALUES (?, ?, ?, ?)",
                    (frame.id, frame.seq, now, error),
                )
            _set_cursor(conn, cursor)
            erased = writer.erased
            batch = AppliedBatch(
                cursor=cursor, applied=applied, duplicates=duplicates, failed=failed
            )
            return batch, writer.changes

        batch = await self._write(write)
        if erased:
            await self.purge_deleted()
        return batch

    async def purge_deleted(self) -> None:
        """Checkpoint the WAL so erased rows leave the disk (secure_delete did the rest)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._write_thread,
            lambda: self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(),
        )

    async def replace_channels(self, infos: Sequence[ChannelInfo]) -> None:
        """Take the relay's channel list (``GET /v1/channels``) as the truth."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[None, list[Change]]:
            conn.execute(
                "UPDATE channels SET status = 'disconnected', updated_at_ms = ?"
                f" WHERE id NOT IN ({', '.join('?' * len(infos))})",
                (now, *(i.id for i in infos)),
            )
            conn.executemany(
                "INSERT INTO channels (id, platform, name, status, detail, updated_at_ms)"
                " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET"
                " platform = excluded.platform, name = excluded.name,"
                " status = excluded.status, updated_at_ms = excluded.updated_at_ms",
                [(i.id, i.platform, i.name, i.status, now) for i in infos],
            )
            return None, [ChannelsChanged()]

        await self._write(write)

    # ---- queries ----------------------------------------------------------------------

    async def list_conversations(
        self, query: ConversationQuery | None = None
    ) -> list[Conversation]:
        """The conversation list, filtered and ordered as ``query`` says."""
        return await self._read(
            functools.partial(queries.list_conversations, query=query or ConversationQuery())
        )

    async def conversation_ids(self, query: ConversationQuery) -> list[int]:
        """The ids :meth:`list_conversations` would list (a search needs no more)."""
        return await self._read(functools.partial(queries.conversation_ids, query=query))

    async def conversation(self, conversation_id: int) -> Conversation | None:
        return await self._read(
            functools.partial(queries.conversation, conversation_id=conversation_id)
        )

    async def conversations(self, ids: Sequence[int]) -> list[Conversation]:
        """These conversations in this order (erased ones left out): for list updates."""
        return await self._read(functools.partial(queries.conversations, ids=ids))

    async def expiring_conversations(
        self, *, now: int | None = None, needs_reply: bool = True, limit: int = 50
    ) -> list[Conversation]:
        """Conversations whose messaging window is still open, closing soonest first.

        ``needs_reply``: only those whose newest message is the customer's, including
        channels without a reply window (listed last); else only windows still open.
        """
        at = self._clock() if now is None else now
        return await self._read(
            functools.partial(queries.expiring, now_ms=at, needs_reply=needs_reply, limit=limit)
        )

    async def customer(self, customer_id: int) -> Customer | None:
        return await self._read(functools.partial(queries.customer, customer_id=customer_id))

    async def messages(
        self, conversation_id: int, *, limit: int = 200, before_id: int | None = None
    ) -> list[Message]:
        """The newest ``limit`` messages (older than ``before_id``), oldest first."""
        return await self._read(
            functools.partial(
                queries.messages, conversation_id=conversation_id, limit=limit, before_id=before_id
            )
        )

    async def message(self, message_id: int) -> Message | None:
        return await self._read(functools.partial(queries.message, message_id=message_id))

    async def pending_drafts(self, *, limit: int = 500) -> list[Draft]:
        """The approval queue: pending drafts, oldest first."""
        return await self._read(functools.partial(queries.pending_drafts, limit=limit))

    async def drafts(self, conversation_id: int) -> list[Draft]:
        return await self._read(functools.partial(queries.drafts, conversation_id=conversation_id))

    async def draft(self, draft_id: int) -> Draft | None:
        return await self._read(functools.partial(queries.draft, draft_id=draft_id))

    async def channels(self) -> list[Channel]:
        return await self._read(queries.channels)

    async def usage_notices(self) -> list[UsageNotice]:
        return await self._read(queries.usage_notices)

    async def outbox(self, *, limit: int = 100) -> list[OutboxItem]:
        """Outbound messages waiting to go, oldest first."""
        return await self._read(functools.partial(queries.outbox_due, limit=limit))

    # ---- the owner's actions --------------------------------------------------------------

    async def mark_read(self, conversation_id: int) -> None:
        await self._write(lambda c, now: (None, conv_edits.mark_read(c, conversation_id, now)))

    async def set_status(
        self,
        conversation_id: int,
        status: ConversationStatus,
        *,
        snoozed_until_ms: int | None = None,
    ) -> None:
        """Set the status (``resolved`` also hands the conversation back to the assistant)."""
        await self._write(
            lambda c, now: (
                None,
                conv_edits.set_status(c, conversation_id, status, snoozed_until_ms, now),
            )
        )

    async def wake_snoozed(self) -> int:
        """Reopen snoozed conversations whose time has come; returns how many."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[int, list[Change]]:
            changes = conv_edits.wake_snoozed(conn, now)
            return len(changes), changes

        return await self._write(write)

    async def set_labels(self, conversation_id: int, labels: Iterable[str]) -> None:
        chosen = list(labels)
        await self._write(
            lambda c, now: (None, conv_edits.set_labels(c, conversation_id, chosen, now))
        )

    async def set_notes(self, conversation_id: int, notes: str) -> None:
        await self._write(
            lambda c, now: (None, conv_edits.set_notes(c, conversation_id, notes, now))
        )

    async def pause_assistant(self, conversation_id: int, reason: PauseReason = "manual") -> None:
        await self._write(
            lambda c, now: (
                None,
                conv_edits.pause_assistant(c, conversation_id, reason, None, now),
            )
        )

    async def resume_assistant(self, conversation_id: int) -> None:
        """Hand the conversation back to the assistant."""
        await self._write(
            lambda c, now: (None, conv_edits.resume_assistant(c, conversation_id, now))
        )

    async def add_draft(self, new: NewDraft) -> Draft:
        """Store a pending draft (the conversation's older pending drafts are superseded)."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[Draft, list[Change]]:
            draft_id, changes = draft_edits.add_draft(conn, new, now)
            found = queries.draft(conn, draft_id)
            assert found is not None
            return found, changes

        return await self._write(write)

    async def edit_draft(self, draft_id: int, text: str) -> None:
        await self._write(lambda c, now: (None, draft_edits.edit_draft(c, draft_id, text, now)))

    async def discard_draft(self, draft_id: int) -> None:
        await self._write(lambda c, now: (None, draft_edits.discard_draft(c, draft_id, now)))

    # ---- outbound rows (the outbox drives these) -------------------------------------------

    async def queue_outbound(
        self,
        conversation_id: int,
        text: str,
        *,
        idempotency_key: str,
        author: Author,
        automatic: bool = False,
        draft_id: int | None = None,
        reply_to: str | None = None,
        in_reply_to_id: int | None = None,
    ) -> Message:
        """Write a reply as ``queued``; see :class:`desktop.core.outbox.Outbox`."""
        device_id = self._device_id

        def write(conn: sqlite3.Connection, now: int) -> tuple[Message, list[Change]]:
            message_id, changes = outgoing.queue_outbound(
                conn,
                conversation_id=conversation_id,
                text=text,
                idempotency_key=idempotency_key,
                author=author,
                automatic=automatic,
                draft_id=draft_id,
                reply_to=reply_to,
                in_reply_to_id=in_reply_to_id,
                device_id=device_id,
                now_ms=now,
            )
            found = queries.message(conn, message_id)
            assert found is not None
            return found, changes

        return await self._write(write)

    async def mark_sending(self, message_id: int) -> bool:
        return await self._write(lambda c, now: (outgoing.mark_sending(c, message_id, now), ()))

    async def record_sent(
        self,
        message_id: int,
        *,
        send_id: str,
        platform_message_id: str | None,
        tag: str | None = None,
    ) -> None:
        await self._write(
            lambda c, now: (
                None,
                outgoing.record_sent(
                    c,
                    message_id,
                    send_id=send_id,
                    platform_message_id=platform_message_id,
                    tag=tag,
                    now_ms=now,
                ),
            )
        )

    async def record_retry(
        self, message_id: int, *, code: str, message: str, next_attempt_ms: int
    ) -> None:
        await self._write(
            lambda c, now: (
                None,
                outgoing.record_retry(
                    c,
                    message_id,
                    code=code,
                    message=message,
                    next_attempt_ms=next_attempt_ms,
                    now_ms=now,
                ),
            )
        )

    async def record_failed(self, message_id: int, *, code: str, message: str) -> None:
        await self._write(
            lambda c, now: (
                None,
                outgoing.record_failed(c, message_id, code=code, message=message, now_ms=now),
            )
        )

    async def requeue(self, message_id: int, idempotency_key: str) -> None:
        await self._write(
            lambda c, now: (None, outgoing.requeue(c, message_id, idempotency_key, now))
        )

    async def confirm_delivered(self, message_id: int) -> None:
        """A reply of unknown outcome reached the customer after all (the owner checked)."""
        await self._write(lambda c, now: (None, outgoing.confirm_delivered(c, message_id, now)))

    # ---- the assistant's record -------------------------------------------------------

    async def record_shadow(
        self, draft_id: int, message_id: int, score: float, topic: str | None = None
    ) -> None:
        """Remember how close a shadow draft came to the reply the owner sent."""

        def write(conn: sqlite3.Connection, now: int) -> tuple[None, list[Change]]:
            stats.record_shadow(conn, draft_id, message_id, score, topic, now)
            return None, []

        await self._write(write)

    async def unconfirmed_erasures(self) -> list[tuple[str, dict[str, int]]]:
        """Erasures applied here that the relay has not yet heard about."""

        def read(conn: sqlite3.Connection) -> list[tuple[str, dict[str, int]]]:
            rows = conn.execute(
                "SELECT request_id, counts FROM erasure_confirmations WHERE confirmed = 0"
            ).fetchall()
            return [(r[0], msgspec.json.decode(r[1], type=dict[str, int])) for r in rows]

        return await self._read(read)

    async def erasure_confirmed(self, request_id: str) -> None:
        def write(conn: sqlite3.Connection, now: int) -> tuple[None, list[Change]]:
            conn.execute(
                "UPDATE erasure_confirmations SET confirmed = 1 WHERE request_id = ?",
                (request_id,),
            )
            return None, []

        await self._write(write)

    async def draft_usage(self, since_ms: int) -> list[tuple[int, str | None, int, int, float]]:
        """(created at, model, prompt tokens, completion tokens, cost) of recent AI drafts."""
        return await self._read(functools.partial(stats.draft_usage, since_ms=since_ms))

    async def assistant_stats(self, relay_head: int = 0) -> AssistantStats:
        cursor = await self.cursor()
        return await self._read(
            functools.partial(stats.assistant_stats, relay_head=relay_head, cursor=cursor)
        )


def _get_cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
    return int(row[0]) if row else 0


def _set_cursor(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('cursor', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(seq),),
    )


def _casefold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _customer_hash(channel_id: object, customer_id: object) -> str | None:
    if isinstance(channel_id, str) and isinstance(customer_id, str):
        return customer_hash(channel_id, customer_id)
    return None


def _register_functions(conn: sqlite3.Connection) -> None:
    # SQLite's own lower()/LIKE fold ASCII only; names here are often Cyrillic or Albanian.
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    conn.create_function("customer_hash", 2, _customer_hash, deterministic=True)
