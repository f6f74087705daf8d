"""The desktop's event sync against a real relay: store, ack after commit, replay, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from common.protocol import ConnectChannel, SendReply, SignUp, Welcome
from desktop.core.relay_client import Backoff, RelayClient
from desktop.core.store import Change, ConversationQuery, MessageAdded, Store
from desktop.core.sync import EventSync, Heartbeat, StreamCursor, wait_for_status
from relay.app import create_app
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import messenger_text, post_meta

T = TypeVar("T")
PAGE = "PAGE1"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Poll ``probe`` until it returns something truthy (a wait, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.02)


@dataclass
class Desk:
    """A desktop engine: store, relay client and sync for one signed-up business."""

    store: Store
    client: RelayClient
    sync: EventSync
    device_id: str
    business_id: str
    token: str

    def relay_cursor(self) -> int:
        """This device's cursor as the relay has it (blocking; fine in a test)."""
        response = httpx.get(
            f"{self.client.base_url}/v1/devices",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        (device,) = [d for d in response.json() if d["id"] == self.device_id]
        return int(device["cursor"])


@contextlib.asynccontextmanager
async def desk(
    base_url: str, folder: Path, *, channel: bool = True, **sync_options: Any
) -> AsyncIterator[Desk]:
    """Sign up a business (with a Messenger page), register a device, open its store."""
    client = RelayClient(base_url)
    session = await client.signup(
        SignUp(
            business_name="Kafe",
            name="Arta",
            email=f"o-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery",
        )
    )
    device = await client.register_device("Laptop")
    if channel:
        await client.connect_channel(
            ConnectChannel(platform="messenger", page_id=PAGE, access_token=PAGE_TOKEN, name="Kafe")
        )
    store = await Store.open(folder / "desktop.db")
    await store.set_identity(session.business_id, device.id)
    options: dict[str, Any] = {"backoff": Backoff(initial_s=0.05, cap_s=0.5)}
    options.update(sync_options)
    sync = EventSync(store, client, device.id, **options)
    try:
        yield Desk(store, client, sync, device.id, session.business_id, session.token)
    finally:
        await sync.stop()
        await client.aclose()
        await store.close()


async def post(base_url: str, payload: dict[str, Any]) -> None:
    response = await asyncio.to_thread(post_meta, base_url, payload)
    assert response.status_code == 200, response.text


async def texts(store: Store) -> list[str | None]:
    found: list[str | None] = []
    for conversation in await store.list_conversations():
        found += [m.text for m in await store.messages(conversation.id)]
    return found


def is_live(status: Any) -> bool:
    return bool(status.state == "live")


# ---- pure session logic ---------------------------------------------------------------


def test_stream_cursor_acks_only_new_commits_and_follows_a_reset_log() -> None:
    """Acks are cumulative and only for committed progress; a shorter relay log resets us."""
    cursor = StreamCursor.start(10, Welcome(business_id="b", device_id="d", head=15))
    assert (cursor.committed, cursor.caught_up) == (10, False)
    assert cursor.on_committed(12) == 12
    assert cursor.on_committed(12) is None
    assert cursor.on_committed(15) == 15 and cursor.caught_up
    reset = StreamCursor.start(40, Welcome(business_id="b", device_id="d", head=3))
    assert (reset.committed, reset.acked) == (3, 3)


def test_heartbeat_pings_when_quiet_and_gives_up_when_silent() -> None:
    """A quiet link is pinged every interval; one silent past the limit is dead."""
    beat = Heartbeat(interval_s=15, silence_limit_s=45, last_heard=0, last_ping=0)
    assert beat.action(5) is None
    assert beat.action(15) == "ping"
    assert beat.action(20) is None
    beat.heard(25)
    assert beat.action(35) is None and beat.action(40) == "ping"
    assert beat.action(71) == "dead"


# ---- against the relay ------------------------------------------------------------------


async def test_webhook_reaches_the_store_and_ack_follows_the_commit(
    relay: ServedApp, tmp_path: Path
) -> None:
    """A signed webhook lands in the store; the relay's cursor moves only after the commit."""
    async with desk(relay.url, tmp_path) as d:
        d.sync.start()
        await wait_for_status(d.sync, is_live, 15)
        relay_cursor_at_commit: list[int] = []

        def listener(changes: Sequence[Change]) -> None:
            if any(isinstance(c, MessageAdded) for c in changes):
                relay_cursor_at_commit.append(d.relay_cursor())

        d.store.changes.subscribe(listener)
        await post(relay.url, messenger_text(PAGE, "U1", "mid.1", "Keni byrek sot?", now_ms()))
        await eventually(lambda: texts(d.store))
        assert await texts(d.store) == ["Keni byrek sot?"]
        committed = await d.store.cursor()
        assert relay_cursor_at_commit and relay_cursor_at_commit[0] < committed

        async def acked() -> bool:
            return await asyncio.to_thread(d.relay_cursor) == committed

        await eventually(acked)
        (conversation,) = await d.store.list_conversations()
        assert conversation.customer.platform_id == "U1" and conversation.unread == 1
        (channel,) = await d.store.channels()
        assert channel.name == "Kafe" and channel.platform == "messenger"


async def test_replayed_events_are_not_applied_twice(relay: ServedApp, tmp_path: Path) -> None:
    """After reconnecting from an older cursor, the relay's replay adds nothing new."""
    async with desk(relay.url, tmp_path) as d:
        for i in range(3):
            await post(relay.url, messenger_text(PAGE, "U1", f"mid.{i}", f"m{i}", now_ms() + i))
        d.sync.start()

        async def three() -> bool:
            return len(await texts(d.store)) == 3

        await eventually(three)
        head = await d.store.cursor()
        await d.sync.stop()
        added: list[Change] = []
        d.store.changes.subscribe(
            lambda cs: added.extend(c for c in cs if isinstance(c, MessageAdded))
        )
        await d.store.reset_cursor(0)
        d.sync.start()
        await wait_for_status(d.sync, lambda s: s.state == "live" and s.cursor == head, 15)
        assert await texts(d.store) == ["m0", "m1", "m2"]
        assert added == []
        assert await d.store.cursor() == head


@contextlib.contextmanager
def relay_on(tmp_path: Path, graph: ServedApp, **overrides: Any) -> Iterator[ServedApp]:
    settings = relay_settings(tmp_path, graph_url=f"{graph.url}/{GRAPH_VERSION}", **overrides)
    with serve_app(create_app(settings)) as served:
        yield served


async def test_client_reconnects_to_a_restarted_relay_and_catches_up(
    tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """With the relay stopped mid-session, the client goes offline, then catches up."""
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(relay_on(tmp_path, fake_graph[1]))
        async with desk(first.url, tmp_path) as d:
            d.sync.start()
            await post(first.url, messenger_text(PAGE, "U1", "mid.1", "before", now_ms()))
            await eventually(lambda: texts(d.store))
            await asyncio.to_thread(first.stop)
            await wait_for_status(d.sync, lambda s: s.state == "offline", 15)

            second = stack.enter_context(relay_on(tmp_path, fake_graph[1]))
            await post(second.url, messenger_text(PAGE, "U1", "mid.2", "while away", now_ms()))
            await post(second.url, messenger_text(PAGE, "U2", "mid.3", "new customer", now_ms()))
            d.client.base_url = second.url
            d.sync.reconnect_now()

            async def caught_up() -> bool:
                return len(await texts(d.store)) == 3

            await eventually(caught_up)
            assert sorted(t or "" for t in await texts(d.store)) == [
                "before",
                "new customer",
                "while away",
            ]
            await wait_for_status(d.sync, is_live, 15)


async def test_ended_session_stops_with_sign_in_instead_of_looping(
    relay: ServedApp, tmp_path: Path
) -> None:
    """A 4401 close ends the sync with ``signed_out``; it does not reconnect."""
    async with desk(relay.url, tmp_path) as d:
        token = d.client.token
        await d.client.logout()
        d.client.token = token
        status = await asyncio.wait_for(d.sync.start(), 15)
        assert status.state == "signed_out"
        assert status.detail is not None and "sign in" in status.detail.lower()


async def test_revoked_session_mid_stream_stops_with_sign_in(
    tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """A session signed out elsewhere closes the open stream (4409) and stops the sync."""
    with relay_on(tmp_path, fake_graph[1], heartbeat_s=0.2, heartbeat_timeout_s=5) as served:
        async with desk(served.url, tmp_path) as d:
            task = d.sync.start()
            await wait_for_status(d.sync, is_live, 15)
            await asyncio.to_thread(
                httpx.post,
                f"{served.url}/v1/logout",
                headers={"Authorization": f"Bearer {d.token}"},
                timeout=10,
            )
            status = await asyncio.wait_for(task, 15)
            assert status.state == "signed_out"


async def test_unknown_device_stops_with_device_unknown(relay: ServedApp, tmp_path: Path) -> None:
    """A device id the business does not have ends the sync with ``device_unknown``."""
    async with desk(relay.url, tmp_path, channel=False) as d:
        d.sync.device_id = "not-a-device"
        status = await asyncio.wait_for(d.sync.start(), 15)
        assert status.state == "device_unknown"


async def test_receipts_and_echoes_from_webhooks(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """Delivery and read receipts update our reply; its echo is ignored; a foreign echo pauses."""
    async with desk(relay.url, tmp_path) as d:
        d.sync.start()
        await post(relay.url, messenger_text(PAGE, "U1", "mid.in", "Hi", now_ms()))
        (conversation,) = await eventually(d.store.list_conversations)
        (channel,) = await d.client.channels()
        result = await d.client.send_reply(
            SendReply(
                channel_id=channel.id,
                recipient_id="U1",
                text="Hello!",
                idempotency_key="key-" + "1" * 10,
            )
        )
        mid = result.platform_message_id
        assert mid is not None

        async def reply_status() -> str | None:
            messages = await d.store.messages(conversation.id)
            return messages[-1].status if len(messages) == 2 else None

        assert await eventually(reply_status) == "sent"
        ts = now_ms()
        item = {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": ts}
        await post(
            relay.url,
            {
                "object": "page",
                "entry": [
                    {"id": PAGE, "time": ts, "messaging": [{**item, "delivery": {"mids": [mid]}}]}
                ],
            },
        )

        async def delivered() -> bool:
            return await reply_status() == "delivered"

        await eventually(delivered)
        await post(
            relay.url,
            {
                "object": "page",
                "entry": [
                    {
                        "id": PAGE,
                        "time": ts,
                        "messaging": [{**item, "read": {"watermark": ts + 1000}}],
                    }
                ],
            },
        )

        async def read() -> bool:
            return await reply_status() == "read"

        await eventually(read)

        def echo(message_id: str, text: str) -> dict[str, Any]:
            return {
                "object": "page",
                "entry": [
                    {
                        "id": PAGE,
                        "time": ts,
                        "messaging": [
                            {
                                "sender": {"id": PAGE},
                                "recipient": {"id": "U1"},
                                "timestamp": ts + 2000,
                                "message": {
                                    "is_echo": True,
                                    "mid": message_id,
                                    "text": text,
                                    "app_id": 1234,
                                },
                            }
                        ],
                    }
                ],
            }

        await post(relay.url, echo(mid, "Hello!"))
        await post(relay.url, echo("mid.from-phone", "Typed on the phone"))

        async def three() -> bool:
            return len(await d.store.messages(conversation.id)) == 3

        await eventually(three)
        after = await d.store.conversation(conversation.id)
        assert after is not None and after.assistant_paused and after.paused_reason == "echo"
        authors = [m.author for m in await d.store.messages(conversation.id)]
        assert authors == ["customer", "owner", "elsewhere"]
        found = await d.store.list_conversations(ConversationQuery(text="phone"))
        assert [c.id for c in found] == [conversation.id]
        assert len([r for r in fake_graph[0].requests if r.path.endswith("/messages")]) == 1


@pytest.mark.parametrize("batch_max", [1, 256])
async def test_a_burst_is_applied_in_order_and_acked(
    relay: ServedApp, tmp_path: Path, batch_max: int
) -> None:
    """Many events (more than the relay's unacked window) arrive in order, each once."""
    async with desk(relay.url, tmp_path, batch_max=batch_max) as d:
        base = now_ms()
        count = 1100 if batch_max > 1 else 60
        items = [
            {
                "sender": {"id": f"U{i % 7}"},
                "recipient": {"id": PAGE},
                "timestamp": base + i,
                "message": {"mid": f"burst-{i}", "text": f"n{i}"},
            }
            for i in range(count)
        ]
        await post(
            relay.url, {"object": "page", "entry": [{"id": PAGE, "time": base, "messaging": items}]}
        )
        d.sync.start()

        async def all_in() -> bool:
            return len(await texts(d.store)) == count

        await eventually(all_in, timeout=60)
        got = sorted(int((t or "n-1")[1:]) for t in await texts(d.store))
        assert got == list(range(count))
        committed = await d.store.cursor()

        async def acked() -> bool:
            return await asyncio.to_thread(d.relay_cursor) == committed

        await eventually(acked)
