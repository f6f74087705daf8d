"""An erased customer's messages stay gone when the platform delivers them again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from common.events import MessageReceived
from common.protocol import EventFrame
from tests.conftest import PAGE_TOKEN
from tests.fakes.server import ServedApp
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up


async def _texts(account: Account) -> list[str]:
    async with open_stream(account) as stream:
        frames: list[EventFrame] = []
        while (frames[-1].seq if frames else 0) < stream.welcome.head:
            frames.extend(await stream.events(1))
    return [f.event.text or "" for f in frames if isinstance(f.event, MessageReceived)]


async def test_a_redelivered_message_of_an_erased_customer_is_not_stored_again(
    relay: ServedApp,
) -> None:
    """Meta retries a webhook it thinks failed: after the customer was erased, the same
    message id is dropped as a duplicate, while new messages are stored as usual."""
    account = sign_up(relay.url)
    page = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)["id"]
    body = messenger_text("PAGE1", "psid-1", f"m_{uuid.uuid4().hex}", "erase me", _now_ms())
    assert post_meta(relay.url, body).status_code == 200
    with account.client() as c:
        assert c.delete(f"/v1/channels/{page}/customers/psid-1").status_code == 200
    assert post_meta(relay.url, body).status_code == 200  # the redelivery
    fresh = messenger_text("PAGE1", "psid-1", f"m_{uuid.uuid4().hex}", "new one", _now_ms())
    assert post_meta(relay.url, fresh).status_code == 200
    assert await _texts(account) == ["new one"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_the_tombstone_keeps_no_message_id(relay: ServedApp, tmp_path: Path) -> None:
    """What stays behind is a one-way hash: the erased message's id is not in the files."""
    account = sign_up(relay.url)
    page = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)["id"]
    mid = f"m_TRACE_{uuid.uuid4().hex}"
    assert post_meta(relay.url, messenger_text("PAGE1", "psid-2", mid, "x", _now_ms())).is_success
    with account.client() as c:
        assert c.delete(f"/v1/channels/{page}/customers/psid-2").status_code == 200
    files = [tmp_path / "relay.db", tmp_path / "relay.db-wal"]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    found = mid.encode() in raw  # not asserted directly: pytest would print the whole file
    assert not found
