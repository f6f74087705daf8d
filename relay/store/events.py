"""The event log: appending with dedupe, usage and the messaging window; reading it back."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from relay.store.base import NewEvent, StoredEvent
from relay.store.clock import now_ms
from relay.store.port import Database, Tx, build
from relay.store.usage import add_usage

__all__ = ["Events", "insert_events", "tombstone"]

_STORED = "SELECT seq, id, stored_at_ms, payload FROM events"


def tombstone(dedupe_key: str) -> str:
    """The dedupe row an erasure leaves in place of a key: a one-way hash, so the relay
    keeps no id of the erased message yet still knows a redelivery of it."""
    return "erased:" + hashlib.sha256(dedupe_key.encode()).hexdigest()


async def insert_events(tx: Tx, events: Sequence[NewEvent]) -> list[int | None]:
    """Store ``events`` in order inside ``tx``; a duplicate's slot is None."""
    now = now_ms()
    await tx.lock_businesses([e.business_id for e in events])
    seqs: list[int | None] = []
    for e in events:
        if e.dedupe_key is not None:
            # Seen before, or erased with a tombstone left: either way not stored again.
            fresh = await tx.execute(
                "INSERT INTO dedupe (channel_id, key, created_at_ms) SELECT ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM dedupe WHERE channel_id = ? AND key = ?)"
                " ON CONFLICT DO NOTHING",
                e.channel_id or "",
                e.dedupe_key,
                now,
                e.channel_id or "",
                tombstone(e.dedupe_key),
            )
            if not fresh:
                seqs.append(None)
                continue
        seq = await tx.next_seq(e.business_id)
        await tx.execute(
            "INSERT INTO events (seq, business_id, id, channel_id, customer_id, kind,"
            " stored_at_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            seq,
            e.business_id,
            e.id,
            e.channel_id,
            e.customer_id,
            e.kind,
            now,
            e.payload,
        )
        seqs.append(seq)
        tx.wake(e.business_id)
        if e.usage_metric is not None:
            await add_usage(tx, e.business_id, e.channel_id or "", {e.usage_metric: 1}, now)
        if e.inbound and e.channel_id and e.customer_id:
            await tx.execute(
                "INSERT INTO contacts (channel_id, customer_id, last_inbound_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (channel_id, customer_id) DO UPDATE SET last_inbound_ms ="
                " GREATEST(contacts.last_inbound_ms, excluded.last_inbound_ms)",
                e.channel_id,
                e.customer_id,
                e.timestamp_ms,
            )
    return seqs


class Events:
    _db: Database

    async def append(self, events: Sequence[NewEvent]) -> list[int | None]:
        """Store events durably, in order; a duplicate's slot is None."""
        if not events:
            return []
        return await self._db.transact(lambda tx: insert_events(tx, events))

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
