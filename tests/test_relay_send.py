"""Sending replies through the relay: exact platform requests, windows, idempotency, errors."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.events import MessageSent, SendFailed
from tests.conftest import PAGE_TOKEN, WA_TOKEN
from tests.fakes.graph import FakeGraph, Recorded
from tests.fakes.server import ServedApp
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up

DAY_MS = 24 * 3600 * 1000
FakeGraphServer = tuple[FakeGraph, ServedApp]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _shop(relay: ServedApp) -> tuple[Account, str]:
    account = sign_up(relay.url)
    channel = account.connect(
        platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN, name="Kafe"
    )
    return account, channel["id"]


def _sends(fake: FakeGraph) -> list[Recorded]:
    """The Send API calls Graph received (connecting a channel also reads from it)."""
    return [r for r in fake.requests if r.method == "POST"]


def _customer_wrote(relay: ServedApp, ago_ms: int = 0, mid: str = "in-1") -> None:
    r = post_meta(
        relay.url, messenger_text("PAGE1", "PSID1", mid, "A je hapur sot?", _now_ms() - ago_ms)
    )
    assert r.status_code == 200


async def test_webhook_to_stream_to_send_reaches_the_platform(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """End to end: a customer message streams to the device, whose reply reaches Graph exactly."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay, mid="m-42")
    async with open_stream(account) as stream:
        frames = await stream.events(2)
        await stream.ack(frames[-1].seq)
        r = account.send(channel_id, text="Po, deri në 22:00.", reply_to="m-42")
        assert r.status_code == 200, r.text
        result = r.json()
        (sent,) = await stream.events(1)
    assert isinstance(sent.event, MessageSent)
    assert (
        sent.event.text == "Po, deri në 22:00."
        and sent.event.platform_id == result["platform_message_id"]
    )
    assert sent.seq == result["seq"]
    (request,) = _sends(fake)
    assert request.method == "POST" and request.path == "/v25.0/PAGE1/messages"
    assert request.json == {
        "recipient": {"id": "PSID1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Po, deri në 22:00."},
        "reply_to": {"mid": "m-42"},
    }
    assert PAGE_TOKEN in request.headers.get("authorization", "") + json.dumps(request.query)


def test_same_idempotency_key_sends_once(relay: ServedApp, fake_graph: FakeGraphServer) -> None:
    """A repeated idempotency key returns the first result and sends nothing more."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay)
    key = uuid.uuid4().hex
    first = account.send(channel_id, idempotency_key=key)
    second = account.send(channel_id, idempotency_key=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(_sends(fake)) == 1
    changed = account.send(channel_id, idempotency_key=key, text="Something else")
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_conflict"
    assert len(_sends(fake)) == 1


def test_one_automatic_reply_per_message_however_many_devices_ask(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Concurrent automatic replies to one inbound message: exactly one goes out."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay, mid="m-auto")
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: account.send(channel_id, automatic=True, in_reply_to="m-auto"), range(8)
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1, [a.text for a in answers]
    assert all(
        a.json()["error"]["code"] == "already_replied" for a in answers if a.status_code != 200
    )
    assert len(_sends(fake)) == 1


async def test_closed_window_is_refused_and_logged(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """With no message from the customer in 7 days nothing is sent and every device sees why."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay, ago_ms=8 * DAY_MS)
    r = account.send(channel_id)
    assert r.status_code == 422 and r.json()["error"]["code"] == "window_closed"
    assert _sends(fake) == []
    async with open_stream(account) as stream:
        frames = await stream.events(3)
    failed = frames[-1].event
    assert isinstance(failed, SendFailed) and failed.error == "window_closed"


def test_human_agent_tag_only_for_approved_replies(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Two days on, a person's reply goes with HUMAN_AGENT; an automatic one is refused."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay, ago_ms=2 * DAY_MS, mid="old")
    auto = account.send(channel_id, automatic=True, in_reply_to="old")
    assert auto.status_code == 422 and auto.json()["error"]["code"] == "window_closed"
    assert _sends(fake) == []
    human = account.send(channel_id)
    assert human.status_code == 200 and human.json()["tag"] == "HUMAN_AGENT"
    (request,) = _sends(fake)
    assert request.json["messaging_type"] == "MESSAGE_TAG" and request.json["tag"] == "HUMAN_AGENT"


def test_text_over_the_channel_limit_is_refused_before_sending(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Messenger takes 2000 characters; a longer reply is refused with too_long."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay)
    r = account.send(channel_id, text="a" * 2001)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_long"
    assert _sends(fake) == []


async def test_invalid_token_marks_the_channel_for_reconnecting(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Graph error 190 is token_invalid and the channel turns needs_reconnect for every device."""
    fake, _ = fake_graph
    fake.tokens.add("revoked-token")
    account = sign_up(relay.url)
    channel = account.connect(platform="messenger", page_id="PAGE1", access_token="revoked-token")
    fake.tokens.discard("revoked-token")  # revoked after it was connected
    _customer_wrote(relay)
    r = account.send(channel["id"])
    assert r.status_code == 424 and r.json()["error"]["code"] == "token_invalid"
    assert "revoked-token" not in r.text
    with account.client() as c:
        assert c.get(f"/v1/channels/{channel['id']}").json()["status"] == "needs_reconnect"
    async with open_stream(account) as stream:
        frames = await stream.events(4)
    assert frames[-1].event.status == "needs_reconnect"  # type: ignore[union-attr]


def test_transient_failure_is_retried(relay: ServedApp, fake_graph: FakeGraphServer) -> None:
    """A Graph 500 is retried and the reply still goes out once."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay)
    _customer_wrote(relay)
    fake.fail_next(1, status=500)
    r = account.send(channel_id)
    assert r.status_code == 200, r.text
    assert len(_sends(fake)) == 2


def test_whatsapp_reply_uses_the_cloud_api_shape(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """A WhatsApp reply is a Cloud API text message to the customer's number, with context."""
    fake, _ = fake_graph
    account = sign_up(relay.url)
    channel = account.connect(
        platform="whatsapp",
        phone_number_id="106540352242922",
        business_account_id="102290129340398",
        access_token=WA_TOKEN,
    )
    inbound = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "38344000000",
                                "phone_number_id": "106540352242922",
                            },
                            "contacts": [{"profile": {"name": "Blerim"}, "wa_id": "38344123456"}],
                            "messages": [
                                {
                                    "from": "38344123456",
                                    "id": "wamid.IN1",
                                    "timestamp": str(_now_ms() // 1000),
                                    "type": "text",
                                    "text": {"body": "Sa kushton?"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    assert post_meta(relay.url, inbound).status_code == 200
    r = account.send(channel["id"], recipient_id="38344123456", text="10 €", reply_to="wamid.IN1")
    assert r.status_code == 200, r.text
    (request,) = _sends(fake)
    assert request.path == "/v25.0/106540352242922/messages"
    assert request.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert request.json["messaging_product"] == "whatsapp" and request.json["to"] == "38344123456"
    assert request.json["text"]["body"] == "10 €" and request.json["context"] == {
        "message_id": "wamid.IN1"
    }


def test_businesses_cannot_touch_each_others_channels(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Another business can neither list, read, send through nor disconnect a channel."""
    fake, _ = fake_graph
    owner, channel_id = _shop(relay)
    _customer_wrote(relay)
    intruder = sign_up(relay.url)
    with intruder.client() as c:
        assert c.get("/v1/channels").json() == []
        assert c.get(f"/v1/channels/{channel_id}").status_code == 404
        assert c.delete(f"/v1/channels/{channel_id}").status_code == 404
    r = intruder.send(channel_id)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_channel"
    assert _sends(fake) == []
    with owner.client() as c:
        assert c.get(f"/v1/channels/{channel_id}").status_code == 200


def test_credentials_never_leave_in_clear(
    relay: ServedApp, fake_graph: FakeGraphServer, tmp_path: Path
) -> None:
    """No response shows a token and the database holds it only encrypted."""
    fake_graph[0].tokens.add("EAAG-super-secret-token")
    account = sign_up(relay.url)
    channel = account.connect(
        platform="messenger", page_id="PAGE9", access_token="EAAG-super-secret-token"
    )
    assert "super-secret" not in json.dumps(channel)
    with account.client() as c:
        listing = c.get("/v1/channels").text
    assert "super-secret" not in listing
    assert b"super-secret" not in (tmp_path / "relay.db").read_bytes()
    wal = tmp_path / "relay.db-wal"
    assert not wal.exists() or b"super-secret" not in wal.read_bytes()


async def test_disconnect_erases_pending_events(relay: ServedApp) -> None:
    """Disconnecting a channel removes its undelivered events; devices get only the notice."""
    account, channel_id = _shop(relay)
    _customer_wrote(relay, mid="gone-1")
    with account.client() as c:
        assert c.delete(f"/v1/channels/{channel_id}").status_code == 204
        assert c.get("/v1/channels").json() == []
    async with open_stream(account) as stream:
        frames = await stream.events(2)
    kinds = [f.event.status for f in frames]  # type: ignore[union-attr]
    assert kinds == ["connected", "disconnected"]
    assert (
        post_meta(relay.url, messenger_text("PAGE1", "PSID1", "gone-2", "hello?")).status_code
        == 200
    )
