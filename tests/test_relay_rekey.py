"""``clientora-relay rekey``: every stored secret moves to the current key, and the old key
can then be retired without a channel losing its credential."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from pathlib import Path

from relay.crypto import Keyring, parse_keys
from relay.directory import decode_credentials, encode_credentials
from relay.onboarding import listing_aad
from relay.rekey import RekeyCounts, rekey
from relay.store import SqliteStore, Store
from relay.store.base import MetaLoginRow

OLD = "old:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
NEW = "new:" + base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("=")
REPO = Path(__file__).resolve().parents[1]


async def _secrets_under(store: Store, keyring: Keyring) -> str:
    """A business with two channels and a pending Facebook listing, all sealed by
    ``keyring``; returns the business id."""
    user = await store.create_business("Shop", "Owner", "owner@example.com", "hash")
    biz = user.business_id
    for channel_id, token in (("c1", "EAAG-one"), ("c2", "EAAG-two")):
        key_id, blob = encode_credentials(keyring, channel_id, {"access_token": token})
        await store.create_channel(biz, channel_id, "messenger", channel_id, None, key_id, blob)
    key_id, listing = keyring.encrypt(b'{"assets":[]}', listing_aad("l1"))
    now = time.time_ns() // 1_000_000
    await store.create_meta_login(
        MetaLoginRow("l1", biz, "dev", "state", "ready", None, key_id, listing, now, now + 60_000)
    )
    return biz


async def test_every_secret_moves_to_the_current_key(store: Store) -> None:
    """With the new key first and the old one after it, rekey reseals every credential and
    listing; afterwards the new key alone opens them all, and a second run has nothing to do."""
    biz = await _secrets_under(store, parse_keys(OLD))
    both = parse_keys(f"{NEW},{OLD}")
    assert await rekey(store, both) == RekeyCounts(resealed=3)
    new_only = parse_keys(NEW)
    for row in await store.channels(biz):
        assert row.key_id == "new"
        assert decode_credentials(new_only, row)["access_token"].startswith("EAAG-")
    [login] = await store.sealed_meta_logins()
    assert login.listing is not None and login.key_id == "new"
    assert new_only.decrypt(login.key_id, login.listing, listing_aad("l1")) == b'{"assets":[]}'
    assert await rekey(store, both) == RekeyCounts(current=3)


async def test_a_secret_no_key_opens_is_counted_and_left(store: Store) -> None:
    """A credential sealed by a key that is no longer configured cannot be moved: it is
    reported, and the others still are."""
    biz = await _secrets_under(store, parse_keys(OLD))
    counts = await rekey(store, parse_keys(NEW))
    assert counts == RekeyCounts(unreadable=3)
    assert {row.key_id for row in await store.channels(biz)} == {"old"}


async def test_a_credential_replaced_meanwhile_is_not_overwritten(store: Store) -> None:
    """Rekey replaces a secret only if it still holds what was read (a reconnect wins)."""
    biz = await _secrets_under(store, parse_keys(OLD))
    [first, _] = await store.channels(biz)
    assert not await store.reseal_channel(first.id, b"something else", "new", b"x")
    assert await store.reseal_channel(first.id, first.secret, "new", b"sealed")
    after = await store.channel(biz, first.id)
    assert after is not None and after.secret == b"sealed"


async def test_the_command_reseals_a_relay_database(tmp_path: Path) -> None:
    """``clientora-relay rekey`` run as an operator would, against the relay's SQLite file."""
    store = await SqliteStore.open(tmp_path / "relay.db")
    try:
        await _secrets_under(store, parse_keys(OLD))
    finally:
        await store.close()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CLIENTORA_RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'relay.db'}",
        "CLIENTORA_RELAY_MASTER_KEYS": f"{NEW},{OLD}",
    }
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relay.cli",
        "rekey",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(command.communicate(), 60)
    assert command.returncode == 0, err.decode()
    assert "re-encrypted 3" in out.decode()
    store = await SqliteStore.open(tmp_path / "relay.db")
    try:
        assert {row.key_id for row in await store.all_channels()} == {"new"}
    finally:
        await store.close()
