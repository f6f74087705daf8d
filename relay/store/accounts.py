"""Businesses, their users and sessions, and their devices with stream cursors."""

from __future__ import annotations

from relay.store.base import Conflict, DeviceRow, SessionRow, UserRow
from relay.store.clock import new_id, now_ms
from relay.store.port import Database, Tx, UniqueViolation, build

__all__ = ["Accounts"]

_USER = "SELECT id, business_id, name, email, password_hash FROM users"
_DEVICE = "SELECT id, business_id, name, cursor, created_at_ms FROM devices"


class Accounts:
    _db: Database

    async def create_business(
        self, business_name: str, user_name: str, email: str, password_hash: str
    ) -> UserRow:
        user = UserRow(new_id(), new_id(), user_name, email.strip().lower(), password_hash)

        async def op(tx: Tx) -> UserRow:
            now = now_ms()
            await tx.execute(
                "INSERT INTO businesses (id, name, created_at_ms) VALUES (?, ?, ?)",
                user.business_id,
                business_name,
                now,
            )
            try:
                await tx.execute(
                    "INSERT INTO users (id, business_id, name, email, password_hash, created_at_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    user.id,
                    user.business_id,
                    user.name,
                    user.email,
                    password_hash,
                    now,
                )
            except UniqueViolation:
                raise Conflict("an account with this e-mail already exists") from None
            return user

        return await self._db.transact(op)

    async def user_by_email(self, email: str) -> UserRow | None:
        row = await self._db.fetchrow(f"{_USER} WHERE email = ?", email.strip().lower())
        return None if row is None else build(UserRow, row)

    async def user(self, business_id: str, user_id: str) -> UserRow | None:
        row = await self._db.fetchrow(
            f"{_USER} WHERE id = ? AND business_id = ?", user_id, business_id
        )
        return None if row is None else build(UserRow, row)

    async def set_password(self, business_id: str, user_id: str, password_hash: str) -> None:
        await self._db.write(
            "UPDATE users SET password_hash = ? WHERE id = ? AND business_id = ?",
            password_hash,
            user_id,
            business_id,
        )

    async def create_session(self, token_hash: str, user: UserRow, expires_at_ms: int) -> None:
        await self._db.write(
            "INSERT INTO sessions (token_hash, user_id, business_id, expires_at_ms)"
            " VALUES (?, ?, ?, ?)",
            token_hash,
            user.id,
            user.business_id,
            expires_at_ms,
        )

    async def session(self, token_hash: str, now_ms: int) -> SessionRow | None:
        row = await self._db.fetchrow(
            "SELECT user_id, business_id, expires_at_ms FROM sessions"
            " WHERE token_hash = ? AND revoked = FALSE AND expires_at_ms > ?",
            token_hash,
            now_ms,
        )
        return None if row is None else build(SessionRow, row)

    async def revoke_session(self, token_hash: str) -> None:
        await self._db.write("UPDATE sessions SET revoked = TRUE WHERE token_hash = ?", token_hash)

    async def revoke_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        return await self._db.write(
            "UPDATE sessions SET revoked = TRUE WHERE user_id = ?"
            " AND token_hash IS DISTINCT FROM ? AND revoked = FALSE",
            user_id,
            keep,
        )

    # ---- devices --------------------------------------------------------------------

    async def create_device(self, business_id: str, name: str) -> DeviceRow:
        device = DeviceRow(new_id(), business_id, name, 0, now_ms())
        await self._db.write(
            "INSERT INTO devices (id, business_id, name, cursor, created_at_ms)"
            " VALUES (?, ?, ?, 0, ?)",
            device.id,
            business_id,
            name,
            device.created_at_ms,
        )
        return device

    async def device(self, business_id: str, device_id: str) -> DeviceRow | None:
        row = await self._db.fetchrow(
            f"{_DEVICE} WHERE id = ? AND business_id = ?", device_id, business_id
        )
        return None if row is None else build(DeviceRow, row)

    async def devices(self, business_id: str) -> list[DeviceRow]:
        rows = await self._db.fetch(
            f"{_DEVICE} WHERE business_id = ? ORDER BY created_at_ms, id", business_id
        )
        return [build(DeviceRow, r) for r in rows]

    async def advance_cursor(self, business_id: str, device_id: str, seq: int) -> None:
        await self._db.write(
            "UPDATE devices SET cursor = GREATEST(cursor, ?) WHERE id = ? AND business_id = ?",
            seq,
            device_id,
            business_id,
        )
