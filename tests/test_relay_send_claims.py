"""Send claims under faults: nothing that fails before a request leaves blocks the key, and
a credential the relay can no longer read asks for a reconnect instead of a 500."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import httpx

from relay.crypto import parse_keys
from tests.conftest import PAGE_TOKEN
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.relay_helpers import TEST_KEYS, Account, messenger_text, post_meta, sign_up

FakeGraphServer = tuple[FakeGraph, ServedApp]


def _shop(relay: ServedApp) -> tuple[Account, str]:
    account = sign_up(relay.url)
    channel = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    wrote = messenger_text("PAGE1", "PSID1", "in-1", "Hello?", time.time_ns() // 1_000_000)
    assert post_meta(relay.url, wrote).status_code == 200  # the reply window opens
    return account, channel["id"]


def _send(account: Account, channel_id: str, key: str) -> httpx.Response:
    return account.send(channel_id, text="Hi", idempotency_key=key)


def _store_secret(tmp_path: Path, channel_id: str, secret: bytes) -> None:
    with sqlite3.connect(tmp_path / "relay.db") as db:
        db.execute("UPDATE channels SET secret = ? WHERE id = ?", (secret, channel_id))
    db.close()


def test_a_credential_that_no_longer_decrypts_asks_for_a_reconnect(
    relay: ServedApp, fake_graph: FakeGraphServer, tmp_path: Path
) -> None:
    """A stored credential that fails to decrypt (its key retired, its bytes damaged) is a
    typed token_invalid that names the fix; the channel needs reconnecting and the same key
    replays that answer rather than hanging as "in progress"."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _store_secret(tmp_path, channel_id, b"\x00" * 48)
    key = uuid.uuid4().hex
    for _ in range(2):
        r = _send(account, channel_id, key)
        assert r.status_code == 424, r.text
        error = r.json()["error"]
        assert error["code"] == "token_invalid" and "Reconnect" in error["message"]
    with account.client() as c:
        assert c.get(f"/v1/channels/{channel_id}").json()["status"] == "needs_reconnect"
    assert [r for r in fake.requests if "/messages" in r.path] == []


def test_a_failure_before_the_request_leaves_frees_the_key(
    relay: ServedApp, fake_graph: FakeGraphServer, tmp_path: Path
) -> None:
    """An unexpected error before anything was sent releases the claim: the same key tries
    again (and fails the same way) instead of answering "in progress" until retention."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    # Decrypts, but is not the mapping of strings every channel's credential is.
    keyring = parse_keys(TEST_KEYS)
    _, sealed = keyring.encrypt(b"[1, 2]", channel_id.encode())
    _store_secret(tmp_path, channel_id, sealed)
    key = uuid.uuid4().hex
    assert _send(account, channel_id, key).status_code == 500
    again = _send(account, channel_id, key)
    assert again.status_code == 500, again.text  # not 409 idempotency_conflict
    assert [r for r in fake.requests if "/messages" in r.path] == []
