"""What the SQLite store leaves in its files: deleted secrets and messages are gone from both."""

from __future__ import annotations

from pathlib import Path

from relay.store import NewEvent, SqliteStore


def _raw(tmp_path: Path) -> bytes:
    files = [tmp_path / "relay.db", tmp_path / "relay.db-wal"]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_a_disconnected_channel_leaves_no_credential_or_message_in_the_files(
    tmp_path: Path,
) -> None:
    """Disconnecting truncates the WAL as erasure does: neither the credential's ciphertext
    nor the channel's pending messages stay in relay.db or relay.db-wal."""
    store = await SqliteStore.open(tmp_path / "relay.db")
    try:
        user = await store.create_business("Shop", "Owner", "owner@example.com", "hash")
        biz = user.business_id
        await store.create_channel(biz, "c1", "messenger", "PAGE1", "Page", "k1", b"SEALED-7781")
        await store.create_channel(biz, "c2", "messenger", "PAGE2", "Kept", "k1", b"SEALED-2024")
        await store.append(
            [
                NewEvent("e1", biz, "message_received", b"words-5521", 1, "c1", "cust-1"),
                NewEvent("e2", biz, "message_received", b"words-3141", 1, "c2", "cust-2"),
            ]
        )
        assert await store.delete_channel(biz, "c1", None)
        raw = _raw(tmp_path)
        assert b"SEALED-2024" in raw and b"words-3141" in raw  # the scan reads live data
        for trace in (b"SEALED-7781", b"words-5521"):
            found = trace in raw  # not asserted directly: pytest would print the whole file
            assert not found, trace
    finally:
        await store.close()
