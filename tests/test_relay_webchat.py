"""The web-chat channel at the relay: visitors write, devices answer, history survives."""

from __future__ import annotations

import uuid

import httpx

from common.events import MessageReceived, MessageSent
from tests.fakes.server import ServedApp
from tests.relay_helpers import open_stream, sign_up

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
