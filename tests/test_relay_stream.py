"""The device event stream: replay, live delivery, acks, heartbeats, auth and isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from common.events import MessageReceived
from common.protocol import CloseCode, EventFrame, Hello, Ping, encode
from relay.app import create_app
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import (
    Account,
    StreamClient,
    messenger_text,
    open_stream,
    post_meta,
    sign_up,
    ws_url,
)


def _with_page(relay: ServedApp, page_id: str = "PAGE1") -> Account:
    account = sign_up(relay.url)
    account.connect(platform="messenger", page_id=page_id, access_token=PAGE_TOKEN, name="Kafe")
    return account


async def test_replay_then_live_in_order(relay: ServedApp) -> None:
    """A device gets every stored event after its cursor in order, then new ones live."""
    account = _with_page(relay)
    for i in range(5):
        assert (
            post_meta(relay.url, messenger_text("PAGE1", "U1", f"m{i}", f"hello {i}")).status_code
            == 200
        )
    async with open_stream(account) as stream:
        frames = await stream.events(6)  # channel connected + 5 messages
        seqs = [f.seq for f in frames]
        assert seqs == sorted(seqs)
        texts = [f.event.text for f in frames if isinstance(f.event, MessageReceived)]
        assert texts == [f"hello {i}" for i in range(5)]
        await asyncio.to_thread(post_meta, relay.url, messenger_text("PAGE1", "U1", "m9", "live"))
        (live,) = await stream.events(1)
        assert isinstance(live.event, MessageReceived) and live.event.text == "live"
        assert live.seq > seqs[-1]


async def test_resume_from_cursor_skips_what_the_device_holds(relay: ServedApp) -> None:
    """Reconnecting with a cursor replays only later events, and acks are recorded."""
    account = _with_page(relay)
    for i in range(4):
        post_meta(relay.url, messenger_text("PAGE1", "U1", f"m{i}", f"t{i}"))
    async with open_stream(account) as stream:
        frames = await stream.events(5)
        await stream.ack(frames[2].seq)
        await stream.ws.send(encode(Ping(nonce=7)).decode())
        await stream.frame()  # the pong proves the ack before it was read
    async with open_stream(account, cursor=frames[2].seq) as stream:
        again = await stream.events(2)
        assert [f.id for f in again] == [f.id for f in frames[3:]]
    with account.client() as c:
        (device,) = c.get("/v1/devices").json()
    assert device["cursor"] == frames[2].seq


async def test_bad_tokens_and_devices_close_with_clear_codes(relay: ServedApp) -> None:
    """A missing or revoked token, a foreign device and a bad first frame each close clearly."""
    account = _with_page(relay)
    other = sign_up(relay.url)
    async with websockets.connect(ws_url(relay.url), compression=None) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.UNAUTHORIZED
    assert "sign in" in closed.value.rcvd.reason.lower()

    headers = {"Authorization": f"Bearer {account.token}"}
    async with websockets.connect(ws_url(relay.url), additional_headers=headers) as ws:
        await ws.send(encode(Hello(device_id=other.device_id)).decode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.FORBIDDEN

    async with websockets.connect(ws_url(relay.url), additional_headers=headers) as ws:
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.BAD_FRAME

    httpx.post(f"{relay.url}/v1/logout", headers=headers)
    async with websockets.connect(ws_url(relay.url), additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.UNAUTHORIZED


@pytest.fixture
def quick_heartbeat_relay(tmp_path: Path) -> Iterator[ServedApp]:
    settings = relay_settings(tmp_path, heartbeat_s=0.2, heartbeat_timeout_s=0.6)
    with serve_app(create_app(settings)) as served:
        yield served


async def _read_until_closed(stream: StreamClient) -> None:
    while True:
        await stream.frame(timeout=5)


async def test_silent_peer_is_pinged_then_closed(quick_heartbeat_relay: ServedApp) -> None:
    """An idle stream gets pings; a peer that never answers is closed as dead."""
    account = sign_up(quick_heartbeat_relay.url)
    async with open_stream(account) as stream:
        frame = await stream.frame(timeout=5)
        assert isinstance(frame, Ping)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _read_until_closed(stream)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.HEARTBEAT_TIMEOUT


async def test_slow_device_does_not_hold_up_another(relay: ServedApp) -> None:
    """A device that reads nothing and never acks does not delay another device's events."""
    account = _with_page(relay)
    with httpx.Client(base_url=relay.url, headers=account.headers) as c:
        second_device = c.post("/v1/devices", json={"name": "Phone"}).json()["id"]
    fast = Account(account.base_url, account.token, account.business_id, second_device)
    bodies = [
        {
            "object": "page",
            "entry": [
                {
                    "id": "PAGE1",
                    "time": 1,
                    "messaging": [
                        {
                            "sender": {"id": "U2"},
                            "recipient": {"id": "PAGE1"},
                            "timestamp": 1_700_000_000_000 + i,
                            "message": {"mid": f"burst-{batch}-{i}", "text": "x" * 200},
                        }
                        for i in range(300)
                    ],
                }
            ],
        }
        for batch in range(5)
    ]
    async with open_stream(account), open_stream(fast) as stream:  # the first is never read
        for body in bodies:
            await asyncio.to_thread(post_meta, relay.url, body)
        frames = await stream.events(1 + 1500, timeout=20)
        assert len({f.id for f in frames}) == 1501


async def test_businesses_never_see_each_others_events(relay: ServedApp) -> None:
    """A device of one business receives nothing of another business's traffic."""
    _with_page(relay, "PAGE_A")
    b = _with_page(relay, "PAGE_B")
    post_meta(relay.url, messenger_text("PAGE_A", "U1", "a1", "for A"))
    post_meta(relay.url, messenger_text("PAGE_B", "U2", "b1", "for B"))
    async with open_stream(b) as stream:
        frames = await stream.events(2)
        texts = [f.event.text for f in frames if isinstance(f.event, MessageReceived)]
        assert texts == ["for B"]
        with pytest.raises(TimeoutError):
            await stream.events(1, timeout=0.5)


async def test_ack_beyond_what_was_sent_is_clamped(relay: ServedApp) -> None:
    """A device cannot acknowledge events it was never sent."""
    account = _with_page(relay)
    async with open_stream(account) as stream:
        (frame,) = await stream.events(1)
        assert isinstance(frame, EventFrame)
        await stream.ack(10_000)
        await stream.ws.send(encode(Ping(nonce=1)).decode())
        await stream.frame()
    with account.client() as c:
        (device,) = c.get("/v1/devices").json()
    assert device["cursor"] == frame.seq
