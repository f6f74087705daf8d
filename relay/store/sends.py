"""Send idempotency: one claim per key, one automatic reply per inbound message."""

from __future__ import annotations

from relay.store.base import NewEvent, SendClaim
from relay.store.clock import new_id, now_ms
from relay.store.events import insert_events
from relay.store.port import Database, Tx, build

__all__ = ["Sends"]

# A claim that conflicts with one released before we could read it is simply taken again.
_CLAIM_TRIES = 10


class Sends:
    _db: Database

    async def claim_send(
        self,
        business_id: str,
        key: str,
        fingerprint: str,
        channel_id: str,
        auto_reply_to: str | None,
        lease_ms: int = 300_000,
    ) -> SendClaim:
        """Take an idempotency key for ``lease_ms``. ``auto_reply_to`` (an inbound message
        id) may be claimed by one automatic send only: another key gets
        ``already_replied``. A pending claim past its lease comes back ``unknown``."""

        async def op(tx: Tx) -> SendClaim:
            # ON CONFLICT waits for a rival claim to commit or roll back; a claim released
            # in between is tried again.
            for _ in range(_CLAIM_TRIES):
                send_id, now = new_id(), now_ms()
                if await tx.execute(
                    "INSERT INTO sends (id, business_id, key, fingerprint, channel_id,"
                    " auto_reply_to, state, created_at_ms, lease_until_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                    send_id,
                    business_id,
                    key,
                    fingerprint,
                    channel_id,
                    auto_reply_to,
                    now,
                    now + lease_ms,
                ):
                    return SendClaim(send_id, "new", fingerprint, None)
                row = await tx.fetchrow(
                    "SELECT id AS send_id, CASE WHEN state = 'pending'"
                    " AND COALESCE(lease_until_ms, 0) <= ? THEN 'unknown' ELSE state END AS state,"
                    " fingerprint, result, seq FROM sends WHERE business_id = ? AND key = ?",
                    now,
                    business_id,
                    key,
                )
                if row is not None:
                    return build(SendClaim, row)
                if auto_reply_to is not None and await tx.fetchrow(
                    "SELECT 1 AS taken FROM sends WHERE channel_id = ? AND auto_reply_to = ?",
                    channel_id,
                    auto_reply_to,
                ):
                    return SendClaim("", "already_replied", fingerprint, None)
            raise RuntimeError("the send key kept changing hands; try again")

        return await self._db.transact(op)

    async def finish_send(self, send_id: str, ok: bool, result: bytes, event: NewEvent) -> int:
        """Record the outcome and append its event in one transaction; returns its seq."""

        async def op(tx: Tx) -> int:
            seq = (await insert_events(tx, [event]))[0]
            if seq is None:
                raise RuntimeError("a send's event was taken for a duplicate")
            await tx.execute(
                "UPDATE sends SET state = ?, result = ?, seq = ? WHERE id = ?",
                "sent" if ok else "failed",
                result,
                seq,
                send_id,
            )
            return seq

        return await self._db.transact(op)

    async def release_send(self, send_id: str) -> None:
        """Forget a claim whose send failed transiently, so the same key may try again."""
        await self._db.write("DELETE FROM sends WHERE id = ?", send_id)
