"""The web-chat channel at the relay: visitors write, devices answer, history survives."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.events import MessageReceived, MessageSent
from relay.app import create_app
from relay.webchat import (
    LIFETIME_BEATS,
    PAGE_CSP,
    STREAMS_PER_VISITOR,
    ChatLine,
    StreamSlots,
    sse_frame,
)
from tests.conftest import relay_settings
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import Account, open_stream, sign_up

VISITOR = "visitor-0123456789"


async def test_visitor_message_reaches_the_device_and_the_reply_comes_back(
    relay: ServedApp,
) -> None:
    """A visitor's message is a normal event; the owner's reply shows in the visitor's history."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Website")
    base = f"{relay.url}/webchat/{channel['id']}/messages"
    r = httpx.post(base, json={"visitor_id": VISITOR, "text": "Keni madhësinë 42?", "name": "Ana"})
    assert r.status_code == 202
    async with open_stream(account) as stream:
        frames = await stream.events(2)
        message = frames[1].event
        assert isinstance(message, MessageReceived)
        assert (message.platform, message.customer.id, message.text) == (
            "webchat",
            VISITOR,
            "Keni madhësinë 42?",
        )
        with account.client() as c:
            sent = c.post(
                "/v1/messages",
                json={
                    "channel_id": channel["id"],
                    "recipient_id": VISITOR,
                    "text": "Po, e kemi.",
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
        assert sent.status_code == 200, sent.text
        (reply,) = await stream.events(1)
        assert isinstance(reply.event, MessageSent)
    history = httpx.get(base, params={"visitor_id": VISITOR}).json()
    assert [(line["direction"], line["text"]) for line in history] == [
        ("in", "Keni madhësinë 42?"),
        ("out", "Po, e kemi."),
    ]
    later = httpx.get(base, params={"visitor_id": VISITOR, "after": history[0]["seq"]}).json()
    assert [line["text"] for line in later] == ["Po, e kemi."]
    other = httpx.get(base, params={"visitor_id": "someone-else-123"}).json()
    assert other == []


def test_a_flooding_visitor_is_slowed_down(relay: ServedApp) -> None:
    """One visitor sending too fast gets 429 with Retry-After; the page stays served."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")
    base = f"{relay.url}/webchat/{channel['id']}/messages"
    codes = [
        httpx.post(base, json={"visitor_id": VISITOR, "text": f"spam {i}"}).status_code
        for i in range(20)
    ]
    assert codes[:12] == [202] * 12
    assert set(codes[12:]) == {429}
    r = httpx.post(base, json={"visitor_id": VISITOR, "text": "again"})
    assert r.status_code == 429 and "retry-after" in r.headers


def test_bad_visitor_input_is_refused(relay: ServedApp) -> None:
    """Unknown channels, odd visitor ids, empty and huge messages each get a clear 4xx."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")
    base = f"{relay.url}/webchat/{channel['id']}/messages"
    assert (
        httpx.post(
            f"{relay.url}/webchat/nope/messages", json={"visitor_id": VISITOR, "text": "x"}
        ).status_code
        == 404
    )
    assert httpx.post(base, json={"visitor_id": "../etc", "text": "x"}).status_code == 422
    assert httpx.post(base, json={"visitor_id": VISITOR, "text": "   "}).status_code == 422
    assert httpx.post(base, json={"visitor_id": VISITOR, "text": "x" * 5000}).status_code == 422
    assert (
        httpx.post(base, content=b"{oops", headers={"content-type": "application/json"}).status_code
        == 400
    )


async def test_a_resent_message_is_stored_once(relay: ServedApp) -> None:
    """The page's own message id makes a resend after a network error harmless."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")
    base = f"{relay.url}/webchat/{channel['id']}/messages"
    body = {"visitor_id": VISITOR, "text": "Hello", "message_id": "m-1"}
    assert httpx.post(base, json=body).status_code == 202
    assert httpx.post(base, json=body).status_code == 202
    history = httpx.get(base, params={"visitor_id": VISITOR}).json()
    assert len(history) == 1


# ---- live replies over Server-Sent Events ---------------------------------------------------


@dataclass
class SseEvent:
    """One parsed Server-Sent Event (or a comment, for heartbeats)."""

    id: str | None = None
    data: str | None = None
    comment: str | None = None
    retry: int | None = None

    def line(self) -> dict[str, Any]:
        assert self.data is not None, self
        decoded: dict[str, Any] = json.loads(self.data)
        return decoded


class SseReader:
    """Reads an event stream the way EventSource does: fields until a blank line."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 10) -> SseEvent:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SseEvent:
        event = SseEvent()
        seen = False
        async for line in self.lines:
            if not line:
                if seen:
                    return event
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event.comment = value
            elif name == "id":
                event.id = value
            elif name == "data":
                event.data = value if event.data is None else f"{event.data}\n{value}"
            elif name == "retry":
                event.retry = int(value)
        raise EOFError("the stream ended")

    async def rest(self, timeout: float = 30) -> list[SseEvent]:
        """Everything until the relay ends the stream."""
        got: list[SseEvent] = []
        while True:
            try:
                got.append(await self.next(timeout))
            except EOFError:
                return got

    async def line(self, timeout: float = 10) -> dict[str, Any]:
        """The next chat line, skipping heartbeats and the retry hint."""
        while True:
            event = await self.next(timeout)
            if event.data is not None:
                assert event.id == str(event.line()["seq"])
                return event.line()


@asynccontextmanager
async def open_events(
    base_url: str,
    channel_id: str,
    visitor_id: str = VISITOR,
    after: int = 0,
    last_event_id: str | None = None,
) -> AsyncIterator[SseReader]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream(
            "GET",
            f"{base_url}/webchat/{channel_id}/events",
            params={"visitor_id": visitor_id, "after": after},
            headers=headers,
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)


def reply(account: Account, channel_id: str, visitor_id: str, text: str) -> int:
    """Answer a visitor as a device does, through the relay's send API; returns the seq."""
    with account.client() as c:
        sent = c.post(
            "/v1/messages",
            json={
                "channel_id": channel_id,
                "recipient_id": visitor_id,
                "text": text,
                "idempotency_key": uuid.uuid4().hex,
            },
        )
    assert sent.status_code == 200, sent.text
    seq: int = sent.json()["seq"]
    return seq


def say(base_url: str, channel_id: str, text: str, visitor_id: str = VISITOR, **extra: str) -> None:
    r = httpx.post(
        f"{base_url}/webchat/{channel_id}/messages",
        json={"visitor_id": visitor_id, "text": text, **extra},
    )
    assert r.status_code == 202, r.text


async def test_a_device_reply_reaches_the_open_page_live(relay: ServedApp) -> None:
    """The visitor's stream replays their message, then delivers the shop's reply as it is sent."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Website")["id"]
    say(relay.url, channel, "A keni këpucë 42?", message_id="m-first")
    async with open_events(relay.url, channel) as events:
        first = await events.next()
        assert first.retry is not None and first.data is None
        mine = await events.line()
        assert (mine["direction"], mine["text"], mine["message_id"]) == (
            "in",
            "A keni këpucë 42?",
            "m-first",
        )
        seq = reply(account, channel, VISITOR, "Po, <b>i kemi</b>.\nEjani nesër.")
        answer = await events.line()
        assert answer == {
            "seq": seq,
            "direction": "out",
            "text": "Po, <b>i kemi</b>.\nEjani nesër.",
            "timestamp_ms": answer["timestamp_ms"],
        }


async def test_a_dropped_stream_resumes_after_last_event_id(relay: ServedApp) -> None:
    """Reconnecting with Last-Event-ID (or ?after=) sends only what the page has not seen."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")["id"]
    say(relay.url, channel, "one")
    async with open_events(relay.url, channel) as events:
        seen = await events.line()
    say(relay.url, channel, "two")
    reply(account, channel, VISITOR, "three")
    async with open_events(relay.url, channel, last_event_id=str(seen["seq"])) as events:
        assert (await events.line())["text"] == "two"
        assert (await events.line())["text"] == "three"
    async with open_events(relay.url, channel, after=seen["seq"]) as events:
        assert (await events.line())["text"] == "two"


@pytest.fixture
def quick_heartbeat_relay(tmp_path: Path) -> Iterator[ServedApp]:
    settings = relay_settings(tmp_path, heartbeat_s=0.2)
    with serve_app(create_app(settings)) as served:
        yield served


async def test_an_idle_stream_gets_heartbeat_comments(quick_heartbeat_relay: ServedApp) -> None:
    """A quiet stream sends comment lines, which keep proxies from closing it and show nothing."""
    account = sign_up(quick_heartbeat_relay.url)
    channel = account.connect(platform="webchat")["id"]
    async with open_events(quick_heartbeat_relay.url, channel) as events:
        await events.next()  # the retry hint
        beats = [await events.next(), await events.next()]
    assert [(beat.comment, beat.data) for beat in beats] == [("keep-alive", None)] * 2


async def test_a_stream_ends_by_itself_and_the_page_resumes(
    quick_heartbeat_relay: ServedApp,
) -> None:
    """After its lifetime a quiet stream closes cleanly; a reconnect picks up where it was."""
    account = sign_up(quick_heartbeat_relay.url)
    channel = account.connect(platform="webchat")["id"]
    say(quick_heartbeat_relay.url, channel, "hello")
    async with open_events(quick_heartbeat_relay.url, channel) as events:
        seen = await events.line()
        rest = await events.rest()
    assert 0 < len(rest) <= LIFETIME_BEATS
    assert {beat.comment for beat in rest} == {"keep-alive"}
    reply(account, channel, VISITOR, "welcome back")
    async with open_events(
        quick_heartbeat_relay.url, channel, last_event_id=str(seen["seq"])
    ) as events:
        assert (await events.line())["text"] == "welcome back"


async def test_a_stream_carries_only_its_own_visitors_lines(relay: ServedApp) -> None:
    """Another visitor's messages and the replies to them never reach this visitor's stream."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")["id"]
    other = "other-visitor-9876"
    say(relay.url, channel, "secret of the other visitor", visitor_id=other)
    say(relay.url, channel, "mine")
    async with open_events(relay.url, channel) as events:
        assert (await events.line())["text"] == "mine"
        reply(account, channel, other, "reply to the other visitor")
        reply(account, channel, VISITOR, "reply to me")
        assert (await events.line())["text"] == "reply to me"
    history = httpx.get(
        f"{relay.url}/webchat/{channel}/messages", params={"visitor_id": VISITOR}
    ).json()
    assert "other" not in json.dumps(history)


def test_bad_stream_requests_are_refused(relay: ServedApp) -> None:
    """A stream needs a known web-chat channel and a well-formed visitor id."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")["id"]
    url = f"{relay.url}/webchat/{channel}/events"
    assert httpx.get(url, params={"visitor_id": "bad id!"}).status_code == 422
    assert httpx.get(url).status_code == 400
    assert (
        httpx.get(f"{relay.url}/webchat/nope/events", params={"visitor_id": VISITOR}).status_code
        == 404
    )


async def test_one_visitor_cannot_hold_many_streams(relay: ServedApp) -> None:
    """Past the per-visitor cap a stream is refused with 429; slots free up when clients leave."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat")["id"]
    url = f"{relay.url}/webchat/{channel}/events"
    async with AsyncExitStack() as held:
        for _ in range(STREAMS_PER_VISITOR):
            await held.enter_async_context(open_events(relay.url, channel))
        refused = httpx.get(url, params={"visitor_id": VISITOR})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        async with open_events(relay.url, channel, visitor_id="another-visitor-1"):
            pass
    # The relay notices the closed connections on its own loop: wait until it has.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            async with open_events(relay.url, channel) as events:
                await events.next()
                break
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


def test_stream_slots_count_per_visitor_and_per_address() -> None:
    """The slot counter refuses past either cap and forgets a key once all its leases are back."""
    slots = StreamSlots(per_visitor=2, per_address=3)
    a = slots.take("v:1", "a:x")
    b = slots.take("v:1", "a:x")
    assert a is not None and b is not None
    assert slots.take("v:1", "a:x") is None
    c = slots.take("v:2", "a:x")
    assert c is not None
    assert slots.take("v:3", "a:x") is None
    a.release()
    a.release()
    assert slots.count("v:1") == 1 and slots.count("a:x") == 2
    for lease in (b, c):
        lease.release()
    assert (slots.count("v:1"), slots.count("a:x")) == (0, 0)


def test_an_sse_frame_is_one_event_whatever_the_text() -> None:
    """Line breaks in a message stay inside the JSON, so a frame never splits into two events."""
    frame = sse_frame(ChatLine(seq=7, direction="out", text="a\nb\r\n\ndata: x", timestamp_ms=1))
    assert frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n")
    assert frame.startswith(b"id: 7\ndata: {")


# ---- the page and the launcher -----------------------------------------------------------


def test_the_chat_page_is_served_with_a_strict_policy(relay: ServedApp) -> None:
    """The page is HTML with a self-only CSP, the shop's name escaped, and its own files."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name='Kafe <script>"x"</script>')["id"]
    page = httpx.get(f"{relay.url}/webchat/{channel}")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert csp == PAGE_CSP
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    body = page.text
    assert "<script>" not in body
    assert "Kafe &lt;script&gt;&quot;x&quot;&lt;/script&gt;" in body
    assert 'role="log"' in body and 'aria-live="polite"' in body
    assert '<label for="text"' in body and 'name="viewport"' in body
    assert "<style" not in body and " style=" not in body and "onclick" not in body
    assets = re.findall(r'(?:href|src)="(/webchat/assets/[^"]+)"', body)
    assert len(assets) == 2
    types = {httpx.get(f"{relay.url}{path}").headers["content-type"] for path in assets}
    assert types == {"text/css; charset=utf-8", "text/javascript; charset=utf-8"}
    assert httpx.get(f"{relay.url}/webchat/assets/nope.js").status_code == 404
    missing = httpx.get(f"{relay.url}/webchat/{uuid.uuid4().hex}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    assert missing.headers["content-security-policy"] == PAGE_CSP


def test_the_embed_snippet_carries_only_the_chat_address(relay: ServedApp) -> None:
    """embed.js is JavaScript that names the chat page and nothing of the business behind it."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Website")["id"]
    script = httpx.get(f"{relay.url}/webchat/{channel}/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert f'"{relay.url}/webchat/{channel}"' in script.text
    assert "__PAGE_URL__" not in script.text
    for secret in (account.business_id, account.token, account.device_id, "Website"):
        assert secret not in script.text
    assert httpx.get(f"{relay.url}/webchat/{uuid.uuid4().hex}/embed.js").status_code == 404
