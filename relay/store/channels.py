"""Channels and their encrypted credentials: connecting, listing and disconnecting."""

from __future__ import annotations

from collections.abc import Sequence

from common.channels import Platform
from relay.store.base import ChannelRow, Conflict, NewEvent
from relay.store.clock import now_ms
from relay.store.events import insert_events
from relay.store.port import Database, Tx, UniqueViolation, build, marks

__all__ = ["CHANNEL", "Channels"]

CHANNEL = (
    "SELECT id, business_id, platform, external_id, name, status, key_id, secret, created_at_ms,"
    " account_id FROM channels"
)


class Channels:
    _db: Database

    async def create_channel(
        self,
        business_id: str,
        channel_id: str,
        platform: Platform,
        external_id: str,
        name: str | None,
        key_id: str,
        secret: bytes,
        account_id: str | None = None,
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
            now_ms(),
            account_id,
        )
        try:
            await self._db.write(
                "INSERT INTO channels (id, business_id, platform, external_id, name, status,"
                " key_id, secret, created_at_ms, account_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row.id,
                business_id,
                platform,
                external_id,
                name,
                row.status,
                key_id,
                secret,
                row.created_at_ms,
                account_id,
            )
        except UniqueViolation:
            raise Conflict(f"this {platform} account is already connected") from None
        return row

    async def channels(self, business_id: str) -> list[ChannelRow]:
        return await self._channels(
            f"{CHANNEL} WHERE business_id = ? ORDER BY created_at_ms, id", business_id
        )

    async def channel(self, business_id: str, channel_id: str) -> ChannelRow | None:
        found = await self._channels(
            f"{CHANNEL} WHERE id = ? AND business_id = ?", channel_id, business_id
        )
        return found[0] if found else None

    async def channel_by_id(self, channel_id: str) -> ChannelRow | None:
        """Any business's channel: only for routing a webhook that names it."""
        found = await self._channels(f"{CHANNEL} WHERE id = ?", channel_id)
        return found[0] if found else None

    async def all_channels(self) -> list[ChannelRow]:
        return await self._channels(f"{CHANNEL} ORDER BY created_at_ms, id")

    async def channels_with_customer(
        self, customer_id: str, platforms: Sequence[str]
    ) -> list[ChannelRow]:
        """Channels of any business, on these platforms, holding events or a contact row
        of ``customer_id`` (for a platform's deletion request, which names no business)."""
        if not platforms:
            return []
        return await self._channels(
            f"{CHANNEL} WHERE platform IN ({marks(len(platforms))}) AND ("
            " EXISTS (SELECT 1 FROM events WHERE events.channel_id = channels.id"
            " AND events.customer_id = ?)"
            " OR EXISTS (SELECT 1 FROM contacts WHERE contacts.channel_id = channels.id"
            " AND contacts.customer_id = ?)) ORDER BY created_at_ms, id",
            *platforms,
            customer_id,
            customer_id,
        )

    async def _channels(self, sql: str, *params: object) -> list[ChannelRow]:
        return [build(ChannelRow, r) for r in await self._db.fetch(sql, *params)]

    async def set_channel_status(self, business_id: str, channel_id: str, status: str) -> None:
        await self._db.write(
            "UPDATE channels SET status = ? WHERE id = ? AND business_id = ?",
            status,
            channel_id,
            business_id,
        )

    async def replace_secret(
        self, business_id: str, channel_id: str, key_id: str, secret: bytes
    ) -> None:
        await self._db.write(
            "UPDATE channels SET key_id = ?, secret = ? WHERE id = ? AND business_id = ?",
            key_id,
            secret,
            channel_id,
            business_id,
        )

    async def reseal_channel(self, channel_id: str, old: bytes, key_id: str, secret: bytes) -> bool:
        """Put ``secret`` (the same credential under another key) in place of ``old``; False,
        and nothing changes, if the channel is gone or its secret changed meanwhile."""
        return bool(
            await self._db.write(
                "UPDATE channels SET key_id = ?, secret = ? WHERE id = ? AND secret = ?",
                key_id,
                secret,
                channel_id,
                old,
            )
        )

    async def delete_channel(
        self, business_id: str, channel_id: str, farewell: NewEvent | None
    ) -> bool:
        """Erase the channel, its credentials, pending events and dedupe keys; then append
        ``farewell`` (a business-wide event) in the same transaction. As with an erasure,
        the deleted bytes are then made unrecoverable from the files where the engine
        allows it (SQLite: a WAL checkpoint)."""

        async def op(tx: Tx) -> bool:
            # Lock the business first: an append of this channel's events that is still
            # open finishes before we erase, and none can start until we commit.
            await tx.lock_businesses([business_id])
            if not await tx.execute(
                "DELETE FROM channels WHERE id = ? AND business_id = ?", channel_id, business_id
            ):
                return False
            await tx.execute(
                "DELETE FROM events WHERE channel_id = ? AND business_id = ?",
                channel_id,
                business_id,
            )
            for table in ("dedupe", "contacts", "sends", "away_channels"):
                await tx.execute(f"DELETE FROM {table} WHERE channel_id = ?", channel_id)
            if farewell is not None:
                await insert_events(tx, [farewell])
            return True

        deleted = await self._db.transact(op)
        if deleted:
            await self._db.scrub()  # the credential's ciphertext must not linger in the WAL
        return deleted
