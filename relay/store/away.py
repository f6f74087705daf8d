"""The away reply's storage: device presence, each channel's switch, the shop's texts."""

from __future__ import annotations

from relay.store.port import Database, Row

__all__ = ["Away"]


class Away:
    _db: Database

    async def device_connected(
        self, business_id: str, device_id: str, now_ms: int, stale_before_ms: int
    ) -> None:
        """Count one more open stream of the device (a count last seen before
        ``stale_before_ms`` was left by a process that died: it restarts at one)."""
        # A count left by a process that died with the stream open is stale: start over.
        await self._db.write(
            "INSERT INTO device_presence (device_id, business_id, connections, seen_ms)"
            " VALUES (?, ?, 1, ?) ON CONFLICT (device_id) DO UPDATE SET connections ="
            " CASE WHEN device_presence.seen_ms < ? THEN 1"
            " ELSE device_presence.connections + 1 END, seen_ms = excluded.seen_ms",
            device_id,
            business_id,
            now_ms,
            stale_before_ms,
        )

    async def device_seen(self, device_id: str, now_ms: int) -> None:
        """The device's stream is still open (a heartbeat)."""
        await self._db.write(
            "UPDATE device_presence SET seen_ms = GREATEST(seen_ms, ?) WHERE device_id = ?",
            now_ms,
            device_id,
        )

    async def device_disconnected(self, device_id: str, now_ms: int) -> None:
        """One stream of the device closed."""
        await self._db.write(
            "UPDATE device_presence SET connections = GREATEST(connections - 1, 0),"
            " seen_ms = GREATEST(seen_ms, ?) WHERE device_id = ?",
            now_ms,
            device_id,
        )

    async def presence(self, business_id: str, stale_before_ms: int) -> tuple[bool, int | None]:
        """Whether a device of the business has a stream open (seen since
        ``stale_before_ms``), and when one was last seen (None: never)."""
        row = await self._db.fetchrow(
            "SELECT MAX(seen_ms) AS seen, MAX(CASE WHEN connections > 0 AND seen_ms >= ?"
            " THEN 1 ELSE 0 END) AS live FROM device_presence WHERE business_id = ?",
            stale_before_ms,
            business_id,
        )
        if row is None or row["seen"] is None:
            return False, None
        return bool(row["live"]), int(row["seen"])

    async def set_away_channel(
        self, business_id: str, channel_id: str, enabled: bool, minutes: int
    ) -> bool:
        """Save a channel's away switch; False if the channel is not the business's."""
        return bool(
            await self._db.write(
                "INSERT INTO away_channels (channel_id, business_id, enabled, minutes)"
                " SELECT id, business_id, ?, ? FROM channels WHERE id = ? AND business_id = ?"
                " ON CONFLICT (channel_id) DO UPDATE SET enabled = excluded.enabled,"
                " minutes = excluded.minutes",
                enabled,
                minutes,
                channel_id,
                business_id,
            )
        )

    async def away_channels(self, business_id: str) -> dict[str, tuple[bool, int]]:
        """Channel id -> (enabled, minutes), for channels with a saved switch."""
        rows = await self._db.fetch(
            "SELECT channel_id, enabled, minutes FROM away_channels WHERE business_id = ?",
            business_id,
        )
        return {str(r["channel_id"]): (bool(r["enabled"]), int(r["minutes"])) for r in rows}

    async def away_switched_on(self) -> set[str]:
        """Every channel whose away switch is on (each process keeps them in memory)."""
        rows = await self._db.fetch("SELECT channel_id FROM away_channels WHERE enabled")
        return {str(r["channel_id"]) for r in rows}

    async def away_channel(self, channel_id: str) -> tuple[bool, int] | None:
        """One channel's saved switch (enabled, minutes); None when never saved."""
        row = await self._db.fetchrow(
            "SELECT enabled, minutes FROM away_channels WHERE channel_id = ?", channel_id
        )
        return None if row is None else (bool(row["enabled"]), int(row["minutes"]))

    async def set_away_messages(self, business_id: str, messages: bytes) -> None:
        await self._db.write(
            "INSERT INTO away_messages (business_id, messages) VALUES (?, ?)"
            " ON CONFLICT (business_id) DO UPDATE SET messages = excluded.messages",
            business_id,
            messages,
        )

    async def away_messages(self, business_id: str) -> bytes | None:
        row = await self._db.fetchrow(
            "SELECT messages FROM away_messages WHERE business_id = ?", business_id
        )
        return None if row is None else bytes(row["messages"])

    async def first_of_customer(self, channel_id: str, customer_id: str, seq: int) -> bool:
        """True when the log holds no event of the customer on the channel before ``seq``."""
        row = await self._db.fetchrow(
            "SELECT 1 AS earlier FROM events WHERE channel_id = ? AND customer_id = ?"
            " AND seq < ? LIMIT 1",
            channel_id,
            customer_id,
            seq,
        )
        return row is None

    async def away_candidates(self, after_ms: int, until_ms: int, limit: int) -> list[Row]:
        """Inbound messages stored in (``after_ms``, ``until_ms``] on channels whose away
        switch is on that open a conversation and have no reply (sent or failed) after
        them: the ones an away check may still owe an answer. Oldest first; columns
        business_id, seq, stored_at_ms, payload."""
        return await self._db.fetch(
            "SELECT e.business_id, e.seq, e.stored_at_ms, e.payload FROM events e"
            " JOIN away_channels a ON a.channel_id = e.channel_id"
            " WHERE a.enabled AND e.kind = 'message' AND e.stored_at_ms > ?"
            " AND e.stored_at_ms <= ?"
            " AND NOT EXISTS (SELECT 1 FROM events p WHERE p.channel_id = e.channel_id"
            " AND p.customer_id = e.customer_id AND p.seq < e.seq)"
            " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.channel_id = e.channel_id"
            " AND r.customer_id = e.customer_id AND r.seq > e.seq"
            " AND r.kind IN ('message_sent', 'send_failed'))"
            " ORDER BY e.stored_at_ms LIMIT ?",
            after_ms,
            until_ms,
            limit,
        )
