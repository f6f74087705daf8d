"""The event log: appending with dedupe, usage and the messaging window; reading it back."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence

from relay.store.base import NewEvent, StoredEvent
from relay.store.clock import now_ms
from relay.store.port import Database, Tx, build
from relay.store.usage import add_usage_rows

__all__ = ["Appends", "Events", "insert_events", "tombstone"]

_STORED = "SELECT seq, id, stored_at_ms, payload FROM events"


def tombstone(dedupe_key: str) -> str:
    """The dedupe row an erasure leaves in place of a key: a one-way hash, so the relay
    keeps no id of the erased message yet still knows a redelivery of it."""
    return "erased:" + hashlib.sha256(dedupe_key.encode()).hexdigest()


async def insert_events(tx: Tx, events: Sequence[NewEvent]) -> list[int | None]:
    """Store ``events`` in order inside ``tx``; a duplicate's slot is None.

    Each statement covers the whole batch (a batch is often many webhooks, see
    ``_Appends``): on PostgreSQL every statement is a round trip and both databases pay
    per statement, so the cost per event falls as batches grow."""
    now = now_ms()
    await tx.lock_businesses([e.business_id for e in events])
    fresh = await _claim_keys(tx, events, now)
    seqs: list[int | None] = []
    rows: list[tuple[object, ...]] = []
    usage: Counter[tuple[str, str, str]] = Counter()
    contacts: dict[tuple[str, str], int] = {}
    for e in events:
        if e.dedupe_key is not None:
            key = (e.channel_id or "", e.dedupe_key)
            if key not in fresh:
                seqs.append(None)
                continue
            fresh.discard(key)  # the same item twice in one batch: the second is a repeat
        seq = await tx.next_seq(e.business_id)
        seqs.append(seq)
        rows.append((seq, e.business_id, e.id, e.channel_id, e.customer_id, e.kind, now, e.payload))
        tx.wake(e.business_id)
        if e.usage_metric is not None:
            usage[e.business_id, e.channel_id or "", e.usage_metric] += 1
        if e.inbound and e.channel_id and e.customer_id:
            contact = (e.channel_id, e.customer_id)
            contacts[contact] = max(e.timestamp_ms, contacts.get(contact, e.timestamp_ms))
    await tx.executemany(
        "INSERT INTO events (seq, business_id, id, channel_id, customer_id, kind,"
        " stored_at_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if usage:
        await add_usage_rows(tx, [(b, c, m, float(n)) for (b, c, m), n in usage.items()], now)
    # Sorted, like every multi-row write here: two writers lock rows in one order.
    await tx.executemany(
        "INSERT INTO contacts (channel_id, customer_id, last_inbound_ms) VALUES (?, ?, ?)"
        " ON CONFLICT (channel_id, customer_id) DO UPDATE SET last_inbound_ms ="
        " GREATEST(contacts.last_inbound_ms, excluded.last_inbound_ms)",
        [(c, u, ms) for (c, u), ms in sorted(contacts.items())],
    )
    return seqs


# Rows per dedupe statement at most; a batch goes in pieces of powers of two, so only a
# few statement texts exist (PostgreSQL prepares each once per connection).
_KEYS_MAX = 64


async def _claim_keys(tx: Tx, events: Sequence[NewEvent], now: int) -> set[tuple[str, str]]:
    """Insert the batch's dedupe keys; the (channel, key) pairs that were new. A key
    seen before, or erased with a tombstone left in its place, is not new."""
    keys = sorted({(e.channel_id or "", e.dedupe_key) for e in events if e.dedupe_key})
    fresh: set[tuple[str, str]] = set()
    while keys:
        size = min(_KEYS_MAX, 1 << (len(keys).bit_length() - 1))
        piece, keys = keys[:size], keys[size:]
        values: list[object] = [now]
        for channel_id, key in piece:
            values += (channel_id, key, tombstone(key))
        rows = await tx.fetch(
            "INSERT INTO dedupe (channel_id, key, created_at_ms)"
            " SELECT v.column1, v.column2, CAST(? AS BIGINT) FROM (VALUES "
            + ", ".join(["(?, ?, ?)"] * size)
            + ") AS v WHERE NOT EXISTS (SELECT 1 FROM dedupe d"
            " WHERE d.channel_id = v.column1 AND d.key = v.column3)"
            " ON CONFLICT DO NOTHING RETURNING channel_id, key",
            *values,
        )
        fresh.update((str(r["channel_id"]), str(r["key"])) for r in rows)
    return fresh


class Appends:
    """Appends that arrive while a batch is being stored go in the next batch together:
    one transaction, one lock of each business's head, one commit and the statements of
    ``insert_events`` for all of them. One batch is in flight at a time per process, so
    under load a batch gathers every webhook that arrived during the one before."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queued: list[tuple[Sequence[NewEvent], asyncio.Future[list[int | None]]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def add(self, events: Sequence[NewEvent]) -> list[int | None]:
        future: asyncio.Future[list[int | None]] = asyncio.get_running_loop().create_future()
        self._queued.append((events, future))
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain(), name="appends")
        return await future

    async def _drain(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._store(batch)
        finally:
            self._draining = None
            for _, future in self._queued:  # only left if this task was cancelled
                if not future.done():
                    future.set_exception(RuntimeError("the store is closed"))

    async def _store(
        self, batch: list[tuple[Sequence[NewEvent], asyncio.Future[list[int | None]]]]
    ) -> None:
        try:
            flat = [e for events, _ in batch for e in events]
            seqs = await self._db.transact(lambda tx: insert_events(tx, flat))
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One append's fault must not fail the others: each goes again on its own.
            for events, future in batch:
                await self._store([(events, future)])
            return
        start = 0
        for events, future in batch:
            _settle(future, seqs[start : start + len(events)])
            start += len(events)


def _settle(
    future: asyncio.Future[list[int | None]], outcome: list[int | None] | Exception
) -> None:
    if future.done():  # the request was cancelled; its events are stored all the same
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Events:
    _db: Database
    _appends: Appends

    async def append(self, events: Sequence[NewEvent]) -> list[int | None]:
        """Store events durably, in order; a duplicate's slot is None."""
        if not events:
            return []
        return await self._appends.add(events)

    async def events_after(self, business_id: str, after: int, limit: int) -> list[StoredEvent]:
        rows = await self._db.fetch(
            f"{_STORED} WHERE business_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            business_id,
            after,
            limit,
        )
        return [build(StoredEvent, r) for r in rows]

    async def head(self, business_id: str) -> int:
        row = await self._db.fetchrow(
            "SELECT MAX(seq) AS head FROM events WHERE business_id = ?", business_id
        )
        return int(row["head"] or 0) if row is not None else 0

    async def customer_events(
        self, channel_id: str, customer_id: str, after: int, limit: int
    ) -> list[StoredEvent]:
        """One customer's events on one channel (the web-chat page's history)."""
        # A channel belongs to one business, so its events share one numbering.
        rows = await self._db.fetch(
            f"{_STORED} WHERE channel_id = ? AND customer_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            channel_id,
            customer_id,
            after,
            limit,
        )
        return [build(StoredEvent, r) for r in rows]

    async def last_inbound(self, channel_id: str, customer_id: str) -> int | None:
        row = await self._db.fetchrow(
            "SELECT last_inbound_ms FROM contacts WHERE channel_id = ? AND customer_id = ?",
            channel_id,
            customer_id,
        )
        return None if row is None else int(row["last_inbound_ms"])
