""" "Connect with Facebook" attempts: single-use states and what Facebook granted."""

from __future__ import annotations

from relay.store.base import MetaLoginRow
from relay.store.port import Database, Tx, build

__all__ = ["MetaLogins"]

_COLUMNS = (
    "id, business_id, device_id, state_hash, status, message, key_id, listing, created_at_ms,"
    " expires_at_ms, state_used"
)


class MetaLogins:
    _db: Database

    async def create_meta_login(self, row: MetaLoginRow) -> None:
        """Store a new login; logins past ``expires_at_ms`` are removed in the same write."""

        async def op(tx: Tx) -> None:
            await tx.execute("DELETE FROM meta_logins WHERE expires_at_ms < ?", row.created_at_ms)
            await tx.execute(
                f"INSERT INTO meta_logins ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row.id,
                row.business_id,
                row.device_id,
                row.state_hash,
                row.status,
                row.message,
                row.key_id,
                row.listing,
                row.created_at_ms,
                row.expires_at_ms,
                row.state_used,
            )

        await self._db.transact(op)

    async def meta_login(self, business_id: str, login_id: str) -> MetaLoginRow | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM meta_logins WHERE id = ? AND business_id = ?",
            login_id,
            business_id,
        )
        return None if row is None else build(MetaLoginRow, row)

    async def meta_login_by_state(self, state_hash: str) -> MetaLoginRow | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM meta_logins WHERE state_hash = ?", state_hash
        )
        return None if row is None else build(MetaLoginRow, row)

    async def claim_meta_login(self, state_hash: str, now_ms: int) -> MetaLoginRow | None:
        # One UPDATE: of two processes handling the same callback, exactly one gets the row.
        """Use a login's state once: if it was pending, unused and not expired, mark it
        used and return the row; else None, and nothing changes."""

        async def op(tx: Tx) -> MetaLoginRow | None:
            row = await tx.fetchrow(
                "UPDATE meta_logins SET state_used = TRUE WHERE state_hash = ?"
                " AND state_used = FALSE AND status = 'pending' AND expires_at_ms > ?"
                f" RETURNING {_COLUMNS}",
                state_hash,
                now_ms,
            )
            return None if row is None else build(MetaLoginRow, row)

        return await self._db.transact(op)

    async def update_meta_login(
        self,
        login_id: str,
        status: str,
        message: str | None,
        key_id: str,
        listing: bytes | None,
        expires_at_ms: int,
    ) -> None:
        await self._db.write(
            "UPDATE meta_logins SET status = ?, message = ?, key_id = ?, listing = ?,"
            " expires_at_ms = ? WHERE id = ?",
            status,
            message,
            key_id,
            listing,
            expires_at_ms,
            login_id,
        )

    async def sealed_meta_logins(self) -> list[MetaLoginRow]:
        """Every login holding an encrypted listing (any business: for re-keying)."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM meta_logins WHERE listing IS NOT NULL ORDER BY id"
        )
        return [build(MetaLoginRow, r) for r in rows]

    async def reseal_meta_login(
        self, login_id: str, old: bytes, key_id: str, listing: bytes
    ) -> bool:
        """As ``reseal_channel``, for a login's listing."""
        return bool(
            await self._db.write(
                "UPDATE meta_logins SET key_id = ?, listing = ? WHERE id = ? AND listing = ?",
                key_id,
                listing,
                login_id,
                old,
            )
        )

    async def expire_meta_logins(self, now_ms: int) -> int:
        """Delete logins past their time, and those of businesses that no longer exist."""
        return await self._db.write(
            "DELETE FROM meta_logins WHERE expires_at_ms < ?"
            " OR business_id NOT IN (SELECT id FROM businesses)",
            now_ms,
        )
