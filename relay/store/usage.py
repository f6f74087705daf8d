"""Usage counters per business, channel, UTC day and metric, and one-time warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from relay.store.base import UsageRow
from relay.store.clock import utc_day
from relay.store.port import Database, Tx, build

__all__ = ["Usage", "add_usage", "add_usage_rows"]


async def add_usage(
    tx: Tx, business_id: str, channel_id: str, deltas: Mapping[str, float], now_ms: int
) -> None:
    """Add to the day's counters inside ``tx`` (in sorted order: two writers lock the
    rows alike and never wait on each other in a circle)."""
    await add_usage_rows(
        tx, [(business_id, channel_id, m, float(deltas[m])) for m in deltas], now_ms
    )


async def add_usage_rows(tx: Tx, rows: Sequence[tuple[str, str, str, float]], now_ms: int) -> None:
    """Add (business, channel, metric, delta) to the day's counters inside ``tx``."""
    day = utc_day(now_ms)
    await tx.executemany(
        "INSERT INTO usage (business_id, channel_id, day, metric, value) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (business_id, day, channel_id, metric)"
        " DO UPDATE SET value = usage.value + excluded.value",
        [(b, c, day, m, value) for b, c, m, value in sorted(rows)],
    )


class Usage:
    _db: Database

    async def add_usage(
        self, business_id: str, channel_id: str, deltas: Mapping[str, float], now_ms: int
    ) -> None:
        """Add to today's (UTC) counters, atomically under any concurrency."""
        await self._db.transact(lambda tx: add_usage(tx, business_id, channel_id, deltas, now_ms))

    async def usage(self, business_id: str, first_day: str, last_day: str) -> list[UsageRow]:
        """Counters for days ``first_day``..``last_day`` (``YYYY-MM-DD``, inclusive)."""
        rows = await self._db.fetch(
            "SELECT channel_id, day, metric, value FROM usage"
            " WHERE business_id = ? AND day BETWEEN ? AND ?",
            business_id,
            first_day,
            last_day,
        )
        # Sorted here, by code point: a database's collation would order ids its own way.
        found = [build(UsageRow, r) for r in rows]
        return sorted(found, key=lambda u: (u.day, u.channel_id, u.metric))

    async def claim_warning(self, business_id: str, key: str) -> bool:
        """True the first time ``key`` is claimed for the business (one warning per level)."""
        claimed = await self._db.write(
            "INSERT INTO usage_warnings (business_id, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
            business_id,
            key,
        )
        return claimed == 1
