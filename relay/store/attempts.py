"""Failed password checks per account, kept in the database so a back-off holds across
processes and restarts."""

from __future__ import annotations

from collections.abc import Callable

from relay.store.port import Database, Tx

__all__ = ["PasswordAttempts"]


class PasswordAttempts:
    _db: Database

    async def password_blocked_until(self, key: str) -> int:
        """Until when (ms) password checks for ``key`` are refused; 0 when they are not."""
        row = await self._db.fetchrow(
            "SELECT blocked_until_ms FROM password_failures WHERE key = ?", key
        )
        return 0 if row is None else int(row["blocked_until_ms"])

    async def add_password_failure(
        self, key: str, now_ms: int, forget_ms: int, delay_ms: Callable[[int], int]
    ) -> int:
        """Count a failure (a streak older than ``forget_ms`` starts again at one) and block
        ``key`` for ``delay_ms(failures)``; returns the new ``blocked_until_ms``."""

        async def op(tx: Tx) -> int:
            row = await tx.fetchrow(
                "INSERT INTO password_failures (key, failures, last_failure_ms, blocked_until_ms)"
                " VALUES (?, 1, ?, 0) ON CONFLICT (key) DO UPDATE SET failures = CASE"
                " WHEN password_failures.last_failure_ms < ? THEN 1"
                " ELSE password_failures.failures + 1 END,"
                " last_failure_ms = excluded.last_failure_ms RETURNING failures",
                key,
                now_ms,
                now_ms - forget_ms,
            )
            assert row is not None  # an upsert with RETURNING returns its row
            until = now_ms + delay_ms(int(row["failures"]))
            await tx.execute(
                "UPDATE password_failures SET blocked_until_ms = ? WHERE key = ?", until, key
            )
            return until

        return await self._db.transact(op)

    async def clear_password_failures(self, key: str) -> None:
        await self._db.write("DELETE FROM password_failures WHERE key = ?", key)
