"""Deleting what is past its time, in small batches so no write waits long behind it."""

from __future__ import annotations

from relay.store.base import RetentionCounts, RetentionCutoffs
from relay.store.port import Database, Tx, delete_in

__all__ = ["Retention"]

# Each takes (cutoff, batch size). An event counts as acknowledged once every device of
# its business has a cursor at or past it (no devices: never).
# Events are chosen first and deleted by key: SQLite 3.40 finds no row for a
# ``(business_id, seq) IN (...)`` through an index that holds its rowid alias.
_ACKED = (
    "SELECT e.business_id, e.seq FROM events e"
    " JOIN (SELECT business_id, MIN(cursor) AS acked FROM devices GROUP BY business_id) d"
    " ON d.business_id = e.business_id WHERE e.stored_at_ms < ? AND e.seq <= d.acked LIMIT ?"
)
_UNACKED = "SELECT business_id, seq FROM events WHERE stored_at_ms < ? LIMIT ?"
_EXPIRE_DEDUPE = (
    "DELETE FROM dedupe WHERE (channel_id, key) IN"
    " (SELECT channel_id, key FROM dedupe WHERE created_at_ms < ? LIMIT ?)"
)
_EXPIRE_SENDS = (
    "DELETE FROM sends WHERE id IN (SELECT id FROM sends WHERE created_at_ms < ? LIMIT ?)"
)
_EXPIRE_FAILED_LOGINS = (
    "DELETE FROM password_failures WHERE key IN"
    " (SELECT key FROM password_failures WHERE last_failure_ms < ? LIMIT ?)"
)
_EXPIRE_HOLDS = (
    "DELETE FROM quota_holds WHERE (id, name) IN"
    " (SELECT id, name FROM quota_holds WHERE expires_at_ms < ? LIMIT ?)"
)
_EXPIRE_CONTACTS = (
    "DELETE FROM contacts WHERE (channel_id, customer_id) IN"
    " (SELECT channel_id, customer_id FROM contacts WHERE last_inbound_ms < ? LIMIT ?)"
)


class Retention:
    _db: Database

    async def expire(self, cutoffs: RetentionCutoffs, batch: int) -> RetentionCounts:
        """Delete what is past its time, at most ``batch`` rows per transaction, so no
        write waits long behind it. Acknowledged events go first (an event counts as
        acknowledged when the business has devices and every cursor reached it); what
        is left older than ``unacked_before_ms`` is counted as never acknowledged."""
        counts = RetentionCounts(
            acked_events=await self._events(_ACKED, cutoffs.acked_before_ms, batch),
            unacked_events=await self._events(_UNACKED, cutoffs.unacked_before_ms, batch),
            dedupe_keys=await self._in_batches(_EXPIRE_DEDUPE, cutoffs.keys_before_ms, batch),
            sends=await self._in_batches(_EXPIRE_SENDS, cutoffs.keys_before_ms, batch),
            contacts=await self._in_batches(_EXPIRE_CONTACTS, cutoffs.contacts_before_ms, batch),
        )
        # Old failure streaks would be forgotten at the next failure anyway.
        await self._in_batches(_EXPIRE_FAILED_LOGINS, cutoffs.keys_before_ms, batch)
        await self._in_batches(_EXPIRE_HOLDS, cutoffs.keys_before_ms, batch)
        if counts != RetentionCounts():
            await self._db.scrub()
        return counts

    async def _events(self, chosen: str, before_ms: int, batch: int) -> int:
        async def op(tx: Tx) -> int:
            seqs: dict[str, list[int]] = {}
            for row in await tx.fetch(chosen, before_ms, batch):
                seqs.setdefault(row["business_id"], []).append(int(row["seq"]))
            deleted = 0
            for business_id in sorted(seqs):
                deleted += await delete_in(
                    tx,
                    "DELETE FROM events WHERE business_id = ? AND seq IN ({})",
                    [business_id],
                    seqs[business_id],
                )
            return deleted

        total = 0
        while True:
            deleted = await self._db.transact(op)
            total += deleted
            if deleted < batch:
                return total

    async def _in_batches(self, sql: str, before_ms: int, batch: int) -> int:
        """Run a ``DELETE ... LIMIT ?`` until it deletes fewer than ``batch`` rows; each
        run is its own short write, so other writes go in between."""
        total = 0
        while True:
            deleted = await self._db.write(sql, before_ms, batch)
            total += deleted
            if deleted < batch:
                return total
