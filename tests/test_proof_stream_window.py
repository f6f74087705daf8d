"""One shop's traffic never uses up another shop's stream window (found by the soak bench:
SQLite numbers events across all businesses, and the window counted the distance)."""

from __future__ import annotations

import time
from typing import Any

from common.events import MessageReceived
from relay.stream import WINDOW, StreamSession
from tests.conftest import PAGE_TOKEN
from tests.fakes.server import ServedApp
from tests.relay_helpers import open_stream, post_meta, sign_up


def test_the_window_counts_events_not_sequence_numbers() -> None:
    """Three events far apart in the log are three events in flight."""
    session = StreamSession(sent=0, acked=0)
    for seq in (5, 2_000, 4_000):
        session.on_sent(seq)
    assert session.can_send()
    assert session.budget() == WINDOW - 3
    assert session.on_ack(2_000)
    assert session.budget() == WINDOW - 1
    assert not session.on_ack(1_000)  # cumulative: an older ack changes nothing
    assert session.on_ack(10**9)  # clamped to what was sent
    assert (session.acked, session.budget()) == (4_000, WINDOW)


def test_a_full_window_waits_for_an_ack() -> None:
    """WINDOW events unacknowledged: nothing more until the device acknowledges."""
    session = StreamSession(sent=0, acked=0, window=3)
    for seq in (1, 2, 3):
        session.on_sent(seq)
    assert not session.can_send()
    session.on_ack(1)
    assert session.can_send() and session.budget() == 1


def _batch(page: str, first: int, count: int) -> dict[str, Any]:
    now = time.time_ns() // 1_000_000
    return {
        "object": "page",
        "entry": [
            {
                "id": page,
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": f"psid-{i % 7}"},
                        "recipient": {"id": page},
                        "timestamp": now,
                        "message": {"mid": f"{page}.{first + i}", "text": "hello"},
                    }
                    for i in range(count)
                ],
            }
        ],
    }


async def test_a_quiet_device_keeps_receiving_while_another_shop_is_busy(
    relay: ServedApp,
) -> None:
    """Shop A's device holds one unacknowledged event while shop B stores more than a
    window of events; A's next two messages still reach A's device."""
    quiet = sign_up(relay.url)
    quiet.connect(platform="messenger", page_id="PAGE_QUIET", access_token=PAGE_TOKEN)
    busy = sign_up(relay.url)
    busy.connect(platform="messenger", page_id="PAGE_BUSY", access_token=PAGE_TOKEN)
    async with open_stream(quiet) as stream:
        await stream.events(1, ack_every=10**9)  # "connected": read, never acknowledged
        for first in range(0, WINDOW + 100, 100):
            assert post_meta(relay.url, _batch("PAGE_BUSY", first, 100)).status_code == 200
        for mid in ("quiet.1", "quiet.2"):
            body = _batch("PAGE_QUIET", 0, 1)
            body["entry"][0]["messaging"][0]["message"]["mid"] = mid
            assert post_meta(relay.url, body).status_code == 200
        frames = await stream.events(2, ack_every=10**9)
    got = [f.event.platform_id for f in frames if isinstance(f.event, MessageReceived)]
    assert got == ["quiet.1", "quiet.2"]
