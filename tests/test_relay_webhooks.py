"""Webhook endpoints over HTTP: signatures, handshake, bad input, dedupe, every fixture."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from common.events import MessageReceived
from tests.conftest import PAGE_TOKEN, VIBER_TOKEN, WA_TOKEN
from tests.fakes.server import ServedApp
from tests.fakes.viber import FakeViber
from tests.relay_helpers import (
    APP_SECRET,
    VERIFY_TOKEN,
    Account,
    messenger_text,
    open_stream,
    post_meta,
    post_viber,
    sign_up,
)
from tests.shared_data import fixture_bytes, require_shared, shared_bytes, shared_fixture


def _page_envelope(
    item: dict[str, Any], *, object_: str = "page", page: str = "PAGE1"
) -> dict[str, Any]:
    return {
        "object": object_,
        "entry": [{"id": page, "time": 1_700_000_000_000, "messaging": [item]}],
    }


KAFE_PAGE = "1048320001"
KAFE_IG = "17841401234"
KAFE_WA = "1065403522"

# The project's webhook fixtures -> the event kinds the stream must then carry.
OWN_META: dict[str, list[str]] = {
    "messenger/text": ["message"],
    "messenger/attachments": ["message"],
    "messenger/quick-reply": ["message"],
    "messenger/echo": ["echo"],
    "messenger/postback-field-value": ["postback"],
    "messenger/reaction": ["reaction"],
    "messenger/read": ["status"],
    "messenger/batched": ["message", "message", "message"],
    "instagram/postback": ["postback"],
    "instagram/reaction": ["reaction"],
    "instagram/seen": ["status"],
    "whatsapp/text": ["message"],
    "whatsapp/image": ["message"],
    "whatsapp/document": ["message"],
    "whatsapp/location": ["message"],
    "whatsapp/button-reply": ["postback"],
    "whatsapp/reaction-removed": ["reaction"],
    "whatsapp/status-sent": ["status"],
    "whatsapp/status-delivered": ["status"],
}


def _connect_kafe(account: Account) -> int:
    """The shop's channels the fixtures name; returns how many channel events that made."""
    account.connect(platform="messenger", page_id=KAFE_PAGE, access_token=PAGE_TOKEN)
    account.connect(platform="instagram", account_id=KAFE_IG, access_token=PAGE_TOKEN)
    account.connect(
        platform="whatsapp",
        phone_number_id=KAFE_WA,
        business_account_id="2391001",
        access_token=WA_TOKEN,
    )
    return 3


@pytest.mark.parametrize("name", sorted(OWN_META))
async def test_every_meta_fixture_becomes_the_right_events(relay: ServedApp, name: str) -> None:
    """Each documented Meta payload, signed, is stored and streamed as its typed events."""
    kinds = OWN_META[name]
    account = sign_up(relay.url)
    skip = _connect_kafe(account)
    r = post_meta(relay.url, fixture_bytes(f"webhooks/{name}.json"))
    assert r.status_code == 200
    async with open_stream(account) as stream:
        frames = await stream.events(skip + len(kinds))
    assert [f.event.__struct_config__.tag for f in frames[skip:]] == kinds


# The shared corpus: file -> (how to post it, the event kinds the stream must then carry)
SHARED_META: dict[str, tuple[str, list[str]]] = {
    "messenger_webhook-attachment-entry_1.json": ("entry", ["message"]),
    "messenger_webhook-echo-text_1.json": ("item", ["echo"]),
    "messenger_webhook-postback-field-value_1.json": ("change", ["postback"]),
    "messenger_webhook-reaction_1.json": ("item", ["reaction"]),
    "messenger_webhook-read_1.json": ("item", ["status"]),
    "messenger_webhook-text-envelope_1.json": ("as_is", ["message"]),
    "messenger_webhook-text-quick-reply_1.json": ("item", ["message"]),
    "instagram_webhook-postback_1.json": ("as_is", ["postback"]),
    "instagram_webhook-reaction_1.json": ("as_is", ["reaction"]),
    "instagram_webhook-seen_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-document_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-image_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-interactive-button-reply_1.json": ("as_is", ["postback"]),
    "whatsapp_webhook-location_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-reaction_1.json": ("as_is", ["reaction"]),
    "whatsapp_webhook-status-delivered_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-status-sent_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-text_1.json": ("as_is", ["message"]),
}


def _shared_body(name: str, how: str) -> dict[str, Any]:
    payload = shared_fixture(name)
    if how == "item":
        return _page_envelope(payload)
    if how == "entry":
        return {"object": "page", "entry": [{**payload, "id": "PAGE1"}]}
    if how == "change":
        return {"object": "page", "entry": [{"id": "PAGE1", "time": 1, "changes": [payload]}]}
    return payload  # type: ignore[no-any-return]


def _connect_shared_accounts(account: Account) -> None:
    """Channels for every account id the shared corpus names."""
    account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    account.connect(platform="messenger", page_id="111111", access_token=PAGE_TOKEN)
    for ig in ("<INSTAGRAM_SCOPED_ID>", "<YOUR_APP_USERS_INSTAGRAM_USER_ID>"):
        account.connect(platform="instagram", account_id=ig, access_token=PAGE_TOKEN)
    for number in ("106540352242922", "1122334455667"):
        account.connect(
            platform="whatsapp",
            phone_number_id=number,
            business_account_id="WABA",
            access_token=WA_TOKEN,
        )


@pytest.mark.parametrize("name", sorted(SHARED_META))
async def test_every_shared_meta_payload_becomes_the_right_events(
    relay: ServedApp, name: str
) -> None:
    """Each real Meta payload of the shared corpus, signed, is streamed as the expected events."""
    how, kinds = SHARED_META[name]
    body = _shared_body(name, how)
    account = sign_up(relay.url)
    _connect_shared_accounts(account)
    r = post_meta(relay.url, body)
    assert r.status_code == 200
    async with open_stream(account) as stream:
        frames = await stream.events(6 + len(kinds))
    got = [f.event.__struct_config__.tag for f in frames[6:]]
    assert got == kinds


# The project's Viber callbacks -> the event kind each becomes (the webhook check: none).
OWN_VIBER = {
    "message-text": "message",
    "message-picture": "message",
    "delivered": "status",
    "seen": "status",
    "subscribed": "subscription",
    "unsubscribed": "subscription",
}


async def test_viber_bot_connects_and_its_callbacks_become_events(
    relay: ServedApp, fake_viber: tuple[FakeViber, ServedApp]
) -> None:
    """Connecting a bot registers our webhook with Viber; every signed callback is stored."""
    fake, _ = fake_viber
    account = sign_up(relay.url)
    channel = account.connect(platform="viber", auth_token=VIBER_TOKEN, name="Kafe bot")
    assert fake.webhook(VIBER_TOKEN) == channel["webhook_url"]
    assert channel["webhook_url"].startswith(relay.url)
    webhook_check = fixture_bytes("viber/webhook.json")
    assert post_viber(relay.url, channel["id"], webhook_check, VIBER_TOKEN).status_code == 200
    for name in OWN_VIBER:
        body = fixture_bytes(f"viber/{name}.json")
        assert post_viber(relay.url, channel["id"], body, VIBER_TOKEN).status_code == 200, name
    async with open_stream(account) as stream:
        frames = await stream.events(1 + len(OWN_VIBER))
    assert [f.event.__struct_config__.tag for f in frames[1:]] == list(OWN_VIBER.values())
    message = frames[1].event
    assert isinstance(message, MessageReceived) and message.text


SHARED_VIBER = {
    "viber_callback-delivered_1.json": "status",
    "viber_callback-message-unicode_1.json": "message",
    "viber_callback-seen_1.json": "status",
    "viber_callback-subscribed_1.json": "subscription",
    "viber_callback-unsubscribed_1.json": "subscription",
}


async def test_shared_viber_callbacks_become_events(relay: ServedApp) -> None:
    """Every Viber callback of the shared corpus, signed, is stored as its event."""
    require_shared()
    account = sign_up(relay.url)
    channel = account.connect(platform="viber", auth_token=VIBER_TOKEN, name="Kafe bot")
    for name in SHARED_VIBER:
        r = post_viber(relay.url, channel["id"], shared_bytes(name), VIBER_TOKEN)
        assert r.status_code == 200, name
    async with open_stream(account) as stream:
        frames = await stream.events(1 + len(SHARED_VIBER))
    assert [f.event.__struct_config__.tag for f in frames[1:]] == list(SHARED_VIBER.values())


def test_viber_rejects_bad_signature_and_unknown_channel(relay: ServedApp) -> None:
    """A Viber callback signed with another token, or for no channel, stores nothing."""
    account = sign_up(relay.url)
    channel = account.connect(platform="viber", auth_token=VIBER_TOKEN)
    body = fixture_bytes("viber/message-text.json")
    assert post_viber(relay.url, channel["id"], body, "some-other-token").status_code == 403
    r = post_viber(relay.url, "no-such-channel", body, VIBER_TOKEN)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_channel"


def test_meta_handshake(relay: ServedApp) -> None:
    """Meta's GET verification echoes the challenge only for the right verify token."""
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    r = httpx.get(f"{relay.url}/webhooks/meta", params=params)
    assert r.status_code == 200 and r.text == "1158201444"
    r = httpx.get(f"{relay.url}/webhooks/meta", params={**params, "hub.verify_token": "guess"})
    assert r.status_code == 403


async def test_bad_or_missing_signature_stores_nothing(relay: ServedApp) -> None:
    """A wrong, missing or re-encoded-body signature is refused with 403 and nothing is kept."""
    account = sign_up(relay.url)
    account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    body = json.dumps(messenger_text("PAGE1", "U1", "m1", "Përshëndetje")).encode()
    assert post_meta(relay.url, body, secret="wrong-secret").status_code == 403
    assert post_meta(relay.url, body, signature="").status_code == 403
    assert post_meta(relay.url, body, signature="sha256=" + "0" * 64).status_code == 403
    # Meta signs the bytes as sent (\u escapes); a signature over decoded text must fail.
    escaped = json.dumps(
        messenger_text("PAGE1", "U1", "m2", "Përshëndetje"), ensure_ascii=True
    ).encode()
    raw = json.dumps(
        messenger_text("PAGE1", "U1", "m2", "Përshëndetje"), ensure_ascii=False
    ).encode()
    from relay.webhooks.signatures import sign_meta

    assert post_meta(relay.url, escaped, signature=sign_meta(raw, APP_SECRET)).status_code == 403
    assert post_meta(relay.url, escaped).status_code == 200
    async with open_stream(account) as stream:
        frames = await stream.events(2)
        with pytest.raises(TimeoutError):
            await stream.events(1, timeout=0.3)
    assert isinstance(frames[1].event, MessageReceived) and frames[1].event.text == "Përshëndetje"


def test_malformed_unknown_and_oversized_bodies(relay: ServedApp) -> None:
    """Broken JSON and unknown objects are answered 200 (no retry storm); huge bodies get 413."""
    account = sign_up(relay.url)
    account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    assert post_meta(relay.url, b"{not json").status_code == 200
    assert post_meta(relay.url, b"[1, 2]").status_code == 200
    assert post_meta(relay.url, {"object": "marketplace", "entry": [{}]}).status_code == 200
    assert (
        post_meta(
            relay.url, {"object": "page", "entry": [{"id": "PAGE1", "messaging": [{}]}]}
        ).status_code
        == 200
    )
    assert post_meta(relay.url, messenger_text("UNKNOWN", "U1", "m1", "hi")).status_code == 200
    huge = json.dumps(messenger_text("PAGE1", "U1", "m1", "x" * (2 * 1024 * 1024))).encode()
    r = post_meta(relay.url, huge)
    assert r.status_code == 413
    assert httpx.get(f"{relay.url}/healthz").status_code == 200
    with account.client() as c:
        assert c.get("/v1/devices").status_code == 200


async def test_retries_and_concurrent_duplicates_are_stored_once(relay: ServedApp) -> None:
    """The same message id delivered many times, also at once, is one event."""
    account = sign_up(relay.url)
    account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    body = messenger_text("PAGE1", "U1", "mid.dup", "once please")
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: post_meta(relay.url, body).status_code, range(32)))
    assert codes == [200] * 32
    assert post_meta(relay.url, body).status_code == 200
    async with open_stream(account) as stream:
        frames = await stream.events(2)
        with pytest.raises(TimeoutError):
            await stream.events(1, timeout=0.3)
    assert frames[1].event.platform_id == "mid.dup"  # type: ignore[union-attr]
