"""Erasing a customer or a whole business, the records of it, and deletion requests."""

from __future__ import annotations

from relay.store.base import (
    ConfirmationRow,
    DedupeKeyOf,
    DeletionRequestRow,
    ErasureRow,
    NewEvent,
)
from relay.store.events import insert_events, tombstone
from relay.store.port import Database, Tx, build, delete_in

__all__ = ["Erasure"]

_ERASURE = (
    "SELECT e.request_id, e.business_id, COALESCE(b.name, '') AS business_name, e.channel_id,"
    " e.platform, e.channel_name, e.erased_at_ms, e.events, e.contacts, e.dedupe_keys, e.sends,"
    " e.deletion_code FROM erasures e LEFT JOIN businesses b ON b.id = e.business_id"
)

# Every table that names a business, in the order an account is erased (children first).
_BUSINESS_TABLES = (
    "sessions",
    "users",
    "devices",
    "events",
    "sends",
    "usage",
    "usage_warnings",
    "quota_holds",
    "erasures",
    "meta_logins",
    "channel_health",
    "device_presence",
    "away_channels",
    "away_messages",
)


class Erasure:
    _db: Database

    async def erase_customer(
        self,
        business_id: str,
        channel_id: str,
        customer_id: str,
        request_id: str,
        event: NewEvent,
        dedupe_key_of: DedupeKeyOf,
        deletion_code: str | None = None,
        tombstones: bool = False,
    ) -> ErasureRow | None:
        """In one transaction: delete the customer's events on the channel, their contact
        row, the dedupe keys of those events and any key of the channel that contains
        ``customer_id``, the sends that produced those events; record the erasure under
        ``request_id``; append ``event``. With ``tombstones``, a one-way hash of each
        erased event's key stays (until keys expire), so a platform's redelivery of an
        erased message is dropped like any duplicate. None (and nothing done) if the channel is not
        the business's. Deleted bytes are made unrecoverable from the files where the
        engine allows it (SQLite: secure_delete and a WAL checkpoint)."""
        if not customer_id:
            raise ValueError("an erasure needs a customer id")

        async def op(tx: Tx) -> ErasureRow | None:
            # As in delete_channel: an append still open finishes first, none starts after.
            await tx.lock_businesses([business_id])
            found = await tx.fetchrow(
                "SELECT c.platform, c.name AS channel_name, b.name AS business_name"
                " FROM channels c JOIN businesses b ON b.id = c.business_id"
                " WHERE c.id = ? AND c.business_id = ?",
                channel_id,
                business_id,
            )
            if found is None:
                return None
            erased = await tx.fetch(
                "DELETE FROM events WHERE business_id = ? AND channel_id = ? AND customer_id = ?"
                " RETURNING seq, kind, payload",
                business_id,
                channel_id,
                customer_id,
            )
            keys = sorted(
                {k for r in erased if (k := dedupe_key_of(r["kind"], bytes(r["payload"])))}
            )
            dedupe = await tx.execute(
                "DELETE FROM dedupe WHERE channel_id = ? AND strpos(key, ?) > 0",
                channel_id,
                customer_id,
            ) + await delete_in(
                tx, "DELETE FROM dedupe WHERE channel_id = ? AND key IN ({})", [channel_id], keys
            )
            if tombstones:
                await tx.executemany(
                    "INSERT INTO dedupe (channel_id, key, created_at_ms) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [(channel_id, tombstone(k), event.timestamp_ms) for k in keys],
                )
            contacts = await tx.execute(
                "DELETE FROM contacts WHERE channel_id = ? AND customer_id = ?",
                channel_id,
                customer_id,
            )
            # A finished send's seq is its event's: the sends that made erased events.
            sends = await delete_in(
                tx,
                "DELETE FROM sends WHERE business_id = ? AND channel_id = ? AND seq IN ({})",
                [business_id, channel_id],
                [int(r["seq"]) for r in erased],
            )
            row = ErasureRow(
                request_id=request_id,
                business_id=business_id,
                business_name=found["business_name"],
                channel_id=channel_id,
                platform=found["platform"],
                channel_name=found["channel_name"],
                erased_at_ms=event.timestamp_ms,
                events=len(erased),
                contacts=contacts,
                dedupe_keys=dedupe,
                sends=sends,
                deletion_code=deletion_code,
            )
            await tx.execute(
                "INSERT INTO erasures (request_id, business_id, channel_id, platform,"
                " channel_name, erased_at_ms, events, contacts, dedupe_keys, sends, deletion_code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            await insert_events(tx, [event])
            return row

        row = await self._db.transact(op)
        if row is not None:
            await self._db.scrub()
        return row

    async def erasure(self, business_id: str, request_id: str) -> ErasureRow | None:
        row = await self._db.fetchrow(
            f"{_ERASURE} WHERE e.request_id = ? AND e.business_id = ?", request_id, business_id
        )
        return None if row is None else build(ErasureRow, row)

    async def erasures_for_request(self, deletion_code: str) -> list[ErasureRow]:
        rows = await self._db.fetch(
            f"{_ERASURE} WHERE e.deletion_code = ? ORDER BY e.erased_at_ms, e.request_id",
            deletion_code,
        )
        return [build(ErasureRow, r) for r in rows]

    async def confirm_erasure(
        self, business_id: str, request_id: str, device_id: str, counts: bytes, now_ms: int
    ) -> bool:
        """Record a device's confirmation (the first one counts). False if the erasure or
        the device is not the business's."""

        async def op(tx: Tx) -> bool:
            erasure = await tx.fetchrow(
                "SELECT 1 AS found FROM erasures WHERE request_id = ? AND business_id = ?",
                request_id,
                business_id,
            )
            device = await tx.fetchrow(
                "SELECT name FROM devices WHERE id = ? AND business_id = ?",
                device_id,
                business_id,
            )
            if erasure is None or device is None:
                return False
            await tx.execute(
                "INSERT INTO erasure_confirmations"
                " (request_id, device_id, device_name, confirmed_at_ms, counts)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                request_id,
                device_id,
                device["name"],
                now_ms,
                counts,
            )
            return True

        return await self._db.transact(op)

    async def erasure_confirmations(
        self, business_id: str, request_id: str
    ) -> list[ConfirmationRow]:
        rows = await self._db.fetch(
            "SELECT c.request_id, c.device_id, c.device_name, c.confirmed_at_ms, c.counts"
            " FROM erasure_confirmations c JOIN erasures e ON e.request_id = c.request_id"
            " WHERE c.request_id = ? AND e.business_id = ?"
            " ORDER BY c.confirmed_at_ms, c.device_id",
            request_id,
            business_id,
        )
        return [build(ConfirmationRow, r) for r in rows]

    async def add_deletion_request(self, row: DeletionRequestRow) -> None:
        await self._db.write(
            "INSERT INTO deletion_requests (code, received_at_ms, channels, events)"
            " VALUES (?, ?, ?, ?)",
            row.code,
            row.received_at_ms,
            row.channels,
            row.events,
        )

    async def deletion_request(self, code: str) -> DeletionRequestRow | None:
        row = await self._db.fetchrow(
            "SELECT code, received_at_ms, channels, events FROM deletion_requests WHERE code = ?",
            code,
        )
        return None if row is None else build(DeletionRequestRow, row)

    async def delete_business(self, business_id: str) -> bool:
        """Erase everything of the business (users, sessions, devices, channels and their
        credentials, events, dedupe keys, contacts, sends, usage, erasure records)."""

        async def op(tx: Tx) -> bool:
            if not await tx.fetchrow("SELECT 1 AS found FROM businesses WHERE id = ?", business_id):
                return False
            await tx.lock_businesses([business_id])
            for table in ("dedupe", "contacts"):
                await tx.execute(
                    f"DELETE FROM {table} WHERE channel_id IN"
                    " (SELECT id FROM channels WHERE business_id = ?)",
                    business_id,
                )
            for table in (*_BUSINESS_TABLES, *self._db.business_tables, "channels"):
                await tx.execute(f"DELETE FROM {table} WHERE business_id = ?", business_id)
            await tx.execute("DELETE FROM businesses WHERE id = ?", business_id)
            tx.wake(business_id)  # its streams wake, find their session gone, close
            return True

        deleted = await self._db.transact(op)
        if deleted:
            await self._db.scrub()
        return deleted
