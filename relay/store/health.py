"""What the relay knows of each channel's health, and which channels a webhook node feeds."""

from __future__ import annotations

from collections.abc import Mapping

from relay.store.base import ChannelHealthRow
from relay.store.port import Database, Tx, build

__all__ = ["ChannelHealth"]

_HEALTH = (
    "SELECT channel_id, business_id, node_id, avatar_url, checks, last_event_at_ms,"
    " last_send_at_ms, last_send_ok, last_send_error FROM channel_health"
)


class ChannelHealth:
    _db: Database

    async def save_channel_health(self, row: ChannelHealthRow) -> None:
        """Insert or replace ``node_id``, ``avatar_url`` and ``checks`` (never the
        ``last_*`` activity columns) of a channel that exists."""
        await self._db.write(
            "INSERT INTO channel_health (channel_id, business_id, node_id, avatar_url, checks)"
            " SELECT id, business_id, ?, ?, ? FROM channels WHERE id = ? AND business_id = ?"
            " ON CONFLICT (channel_id) DO UPDATE SET node_id = excluded.node_id,"
            " avatar_url = excluded.avatar_url, checks = excluded.checks",
            row.node_id,
            row.avatar_url,
            row.checks,
            row.channel_id,
            row.business_id,
        )

    async def record_channel_activity(
        self,
        events: Mapping[str, int],
        sends: Mapping[str, tuple[int, bool, str | None]],
    ) -> None:
        """Move channels' last event time (``events``: channel id -> ms) and last send
        (``sends``: channel id -> (ms, ok, error code)) forward; older values and unknown
        channels are ignored."""
        if not events and not sends:
            return

        async def op(tx: Tx) -> None:
            # Sorted: two processes flushing at once lock the rows in the same order.
            await tx.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_event_at_ms)"
                " SELECT id, business_id, ? FROM channels WHERE id = ?"
                " ON CONFLICT (channel_id) DO UPDATE SET last_event_at_ms ="
                " GREATEST(channel_health.last_event_at_ms, excluded.last_event_at_ms)",
                [(events[channel_id], channel_id) for channel_id in sorted(events)],
            )
            await tx.executemany(
                "INSERT INTO channel_health (channel_id, business_id, last_send_at_ms,"
                " last_send_ok, last_send_error) SELECT id, business_id, ?, ?, ?"
                " FROM channels WHERE id = ? ON CONFLICT (channel_id) DO UPDATE SET"
                " last_send_at_ms = excluded.last_send_at_ms,"
                " last_send_ok = excluded.last_send_ok, last_send_error = excluded.last_send_error"
                " WHERE COALESCE(channel_health.last_send_at_ms, 0) <= excluded.last_send_at_ms",
                [(*sends[channel_id], channel_id) for channel_id in sorted(sends)],
            )

        await self._db.transact(op)

    async def channel_health(self, business_id: str, channel_id: str) -> ChannelHealthRow | None:
        rows = await self._db.fetch(
            f"{_HEALTH} WHERE channel_id = ? AND business_id = ?", channel_id, business_id
        )
        return build(ChannelHealthRow, rows[0]) if rows else None

    async def channels_health(self, business_id: str) -> list[ChannelHealthRow]:
        rows = await self._db.fetch(f"{_HEALTH} WHERE business_id = ?", business_id)
        return [build(ChannelHealthRow, r) for r in rows]

    async def channels_on_node(self, node_id: str) -> list[str]:
        """Ids of existing channels (any business) whose webhooks come through ``node_id``."""
        rows = await self._db.fetch(
            "SELECT h.channel_id FROM channel_health h JOIN channels c ON c.id = h.channel_id"
            " WHERE h.node_id = ? ORDER BY h.channel_id",
            node_id,
        )
        return [str(r["channel_id"]) for r in rows]

    async def forget_channel_health(self, channel_id: str | None = None) -> int:
        """Delete the health row of ``channel_id``; with None, every row whose channel is gone."""
        if channel_id is not None:
            return await self._db.write(
                "DELETE FROM channel_health WHERE channel_id = ?", channel_id
            )
        return await self._db.write(
            "DELETE FROM channel_health WHERE channel_id NOT IN (SELECT id FROM channels)"
        )
