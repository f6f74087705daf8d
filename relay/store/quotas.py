"""Quota holds: a call's expected use is reserved against the month's limits before it
runs, atomically per business, and released once its real use is counted."""

from __future__ import annotations

from collections.abc import Sequence

from relay.store.base import QuotaWant
from relay.store.port import Database, Tx, marks

__all__ = ["IN_FLIGHT", "Quotas"]

#: What ``hold_quota`` answers when the business already has its most calls in flight.
IN_FLIGHT = "in_flight"


class Quotas:
    _db: Database

    async def hold_quota(
        self,
        business_id: str,
        hold_id: str,
        wants: Sequence[QuotaWant],
        first_day: str,
        last_day: str,
        now_ms: int,
        ttl_ms: int,
        max_in_flight: int,
    ) -> str | None:
        """Reserve each want under ``hold_id`` until ``now_ms + ttl_ms``, in one step with
        the check: the month's use (days ``first_day``..``last_day``) plus live holds plus
        the amount must stay within each limit. None when held; else the name of the
        limit it would pass, or ``in_flight`` when the business already holds
        ``max_in_flight`` calls (nothing is held then)."""

        async def op(tx: Tx) -> str | None:
            # One business at a time: PostgreSQL locks its head row, SQLite has one writer.
            await tx.lock_businesses([business_id])
            row = await tx.fetchrow(
                "SELECT COUNT(DISTINCT id) AS holds FROM quota_holds"
                " WHERE business_id = ? AND expires_at_ms > ?",
                business_id,
                now_ms,
            )
            if row is not None and int(row["holds"]) >= max_in_flight:
                return IN_FLIGHT
            for want in wants:
                if not want.limit:
                    continue
                used = await tx.fetchrow(
                    "SELECT COALESCE(SUM(value), 0) AS used FROM usage WHERE business_id = ?"
                    f" AND day BETWEEN ? AND ? AND metric IN ({marks(len(want.metrics))})",
                    business_id,
                    first_day,
                    last_day,
                    *want.metrics,
                )
                held = await tx.fetchrow(
                    "SELECT COALESCE(SUM(amount), 0) AS held FROM quota_holds"
                    " WHERE business_id = ? AND name = ? AND expires_at_ms > ?",
                    business_id,
                    want.name,
                    now_ms,
                )
                total = float(used["used"] if used else 0) + float(held["held"] if held else 0)
                if total + want.amount > want.limit or total >= want.limit:
                    return want.name
            await tx.executemany(
                "INSERT INTO quota_holds (id, business_id, name, amount, expires_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                [(hold_id, business_id, w.name, w.amount, now_ms + ttl_ms) for w in wants],
            )
            return None

        return await self._db.transact(op)

    async def release_quota(self, hold_id: str) -> None:
        """Drop a hold (its real use was counted, or the call never ran)."""
        await self._db.write("DELETE FROM quota_holds WHERE id = ?", hold_id)
