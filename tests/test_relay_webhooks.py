"""Webhook endpoints over HTTP: signatures, handshake, bad input, dedupe, every fixture."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from common.events import (
    ChannelAlert,
    CustomerChanged,
    Event,
    Handover,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    OptIn,
    Postback,
    Status,
    Unsupported,
)
from tests.conftest import PAGE_TOKEN, VIBER_TOKEN, WA_TOKEN
from tests.fakes.server import ServedApp
from tests.fakes.viber import FakeViber
from tests.relay_helpers import (
    APP_SECRET,
    TEST_KEYS,
    VERIFY_TOKEN,
    Account,
    messenger_text,
    open_stream,
    post_meta,
    post_viber,
    sign_up,
)
from tests.shared_data import (
    OWN_FIXTURES,
    SHARED_META,
    fixture_bytes,
    require_shared,
    shared_bytes,
    shared_fixture,
)


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

# Every webhook fixture of the project -> the event kinds the stream must then carry.
OWN_META: dict[str, list[str]] = {
    "messenger/attachments": ["message"],
    "messenger/batched": ["message", "message", "message"],
    "messenger/delivery": ["status"],
    "messenger/echo": ["echo"],
    "messenger/edit": ["message_edited"],
    "messenger/fallback-share": ["message"],
    "messenger/iso-timestamp": ["message"],
    "messenger/missing-timestamps": ["message", "channel_alert"],
    "messenger/optin": ["opt_in"],
    "messenger/optin-one-time": ["opt_in"],
    "messenger/optin-stop": ["opt_in"],
    "messenger/handover-pass": ["handover"],
    "messenger/handover-take": ["handover"],
    "messenger/handover-request": ["handover"],
    "messenger/app-roles": ["channel_alert"],
    "messenger/policy-enforcement": ["channel_alert"],
    "messenger/postback": ["postback"],
    "messenger/postback-field-value": ["postback"],
    "messenger/quick-reply": ["message"],
    "messenger/reaction": ["reaction"],
    "messenger/reaction-removed": ["reaction"],
    "messenger/read": ["status"],
    "messenger/referral-ad": ["message"],
    "messenger/referral-link": ["message"],
    "messenger/reply-to": ["message"],
    "messenger/standby": ["message"],
    "messenger/sticker": ["message"],
    "messenger/text": ["message"],
    "instagram/echo": ["echo"],
    "instagram/edit": ["message_edited"],
    "instagram/image": ["message"],
    "instagram/postback": ["postback"],
    "instagram/reaction": ["reaction"],
    "instagram/reaction-removed": ["reaction"],
    "instagram/referral-ad": ["message"],
    "instagram/referral-link": ["message"],
    "instagram/reply-to": ["message"],
    "instagram/seen": ["status"],
    "instagram/share-post": ["message"],
    "instagram/story-mention": ["message"],
    "instagram/story-mention-echo-iso-timestamp": ["echo"],
    "instagram/story-reply": ["message"],
    "instagram/story-reply-iso-timestamp": ["message"],
    "instagram/text": ["message"],
    "instagram/unsent": ["message_deleted"],
    "instagram/unsent-iso-timestamp": ["message_deleted"],
    "instagram/unsupported": ["unsupported"],
    "whatsapp/audio-voice": ["message"],
    "whatsapp/batched": ["message", "message", "status", "status"],
    "whatsapp/button-reply": ["postback"],
    "whatsapp/contacts": ["message"],
    "whatsapp/contacts-contradict": ["message_deleted"],
    "whatsapp/document": ["message"],
    "whatsapp/echo": ["echo"],
    "whatsapp/edit-media": ["message_edited"],
    "whatsapp/edit-text": ["message_edited"],
    "whatsapp/image": ["message"],
    "whatsapp/iso-timestamp": ["message"],
    "whatsapp/list-reply": ["postback"],
    "whatsapp/location": ["message"],
    "whatsapp/missing-fields": ["message", "channel_alert"],
    "whatsapp/order": ["unsupported"],
    "whatsapp/reaction": ["reaction"],
    "whatsapp/reaction-removed": ["reaction"],
    "whatsapp/referral-ad": ["message"],
    "whatsapp/reply-forwarded": ["message", "message"],
    "whatsapp/request-welcome": ["subscription"],
    "whatsapp/revoke": ["message_deleted"],
    "whatsapp/status-delivered": ["status"],
    "whatsapp/status-failed": ["status"],
    "whatsapp/status-read": ["status"],
    "whatsapp/status-read-callback": ["status"],
    "whatsapp/user-preferences-stop": ["opt_in"],
    "whatsapp/user-preferences-resume": ["opt_in"],
    "whatsapp/template-approved": ["channel_alert"],
    "whatsapp/template-rejected": ["channel_alert"],
    "whatsapp/template-quality": ["channel_alert"],
    "whatsapp/phone-quality": ["channel_alert"],
    "whatsapp/account-alert": ["channel_alert"],
    "whatsapp/account-update-violation": ["channel_alert"],
    "whatsapp/security": ["channel_alert"],
    "whatsapp/account-review": ["channel_alert"],
    "whatsapp/status-sent": ["status"],
    "whatsapp/sticker": ["message"],
    "whatsapp/system-changed-number": ["customer_changed"],
    "whatsapp/template-button": ["postback"],
    "whatsapp/text": ["message"],
    "whatsapp/text-bsuid": ["message"],
    "whatsapp/unsupported": ["unsupported"],
    "whatsapp/value-errors": ["channel_alert"],
    "whatsapp/video": ["message"],
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


def test_every_webhook_fixture_has_its_expected_events() -> None:
    """No fixture of the project goes untested: each is in the table of expected kinds."""
    on_disk = {f"{p.parent.name}/{p.stem}" for p in (OWN_FIXTURES / "webhooks").glob("*/*.json")}
    assert on_disk == set(OWN_META)
    on_disk_viber = {p.stem for p in (OWN_FIXTURES / "viber").glob("*.json")}
    assert on_disk_viber == {*OWN_VIBER, "webhook"}


@pytest.mark.parametrize("platform", ["messenger", "instagram", "whatsapp"])
async def test_every_meta_fixture_becomes_the_right_events(relay: ServedApp, platform: str) -> None:
    """Each documented payload, signed and posted, is read back from /v1/stream as its events.

    All of a platform's fixtures go to one shop in turn; their ids differ, so none is taken
    for a repeat of another. A last message proves that nothing else was streamed between.
    """
    account = sign_up(relay.url)
    skip = _connect_kafe(account)
    names = [name for name in OWN_META if name.startswith(f"{platform}/")]
    got: dict[str, list[str]] = {}
    async with open_stream(account) as stream:
        await stream.events(skip)
        for name in names:
            r = post_meta(relay.url, fixture_bytes(f"webhooks/{name}.json"))
            assert r.status_code == 200, name
            frames = await stream.events(len(OWN_META[name]))
            got[name] = [str(f.event.__struct_config__.tag) for f in frames]
        assert (
            post_meta(relay.url, messenger_text(KAFE_PAGE, "U9", "m_last", "end")).status_code
            == 200
        )
        (last,) = await stream.events(1)
    assert got == {name: OWN_META[name] for name in names}
    assert last.event.platform_id == "m_last"  # type: ignore[union-attr]


async def test_issue_cases_come_out_right_on_the_stream(relay: ServedApp) -> None:
    """The shapes once lost or misplaced are streamed in the right conversation, whole.

    ISO-8601 timestamps (three Instagram cases), a WhatsApp revoke whose lone contacts entry
    names someone else, an edit to media, account-level errors and a changed number.
    """
    account = sign_up(relay.url)
    skip = _connect_kafe(account)
    names = [
        "instagram/unsent-iso-timestamp",
        "instagram/story-mention-echo-iso-timestamp",
        "instagram/story-reply-iso-timestamp",
        "whatsapp/contacts-contradict",
        "whatsapp/edit-media",
        "whatsapp/value-errors",
        "whatsapp/system-changed-number",
        "whatsapp/unsupported",
        "whatsapp/button-reply",
    ]
    for name in names:
        assert post_meta(relay.url, fixture_bytes(f"webhooks/{name}.json")).status_code == 200
    async with open_stream(account) as stream:
        events = [f.event for f in (await stream.events(skip + len(names)))[skip:]]
    unsent, echo, story, revoke, edit, alert, changed, poll, button = events
    assert isinstance(unsent, MessageDeleted) and unsent.timestamp_ms == 1_764_840_017_000
    assert isinstance(echo, MessageEcho) and echo.attachments[0].type == "story_mention"
    assert echo.timestamp_ms == 1_764_840_060_000
    assert isinstance(story, MessageReceived) and story.story_id == "17920012345678922"
    assert isinstance(revoke, MessageDeleted) and revoke.customer.id == "38349333444"
    assert revoke.customer.name is None
    assert isinstance(edit, MessageEdited) and edit.attachments[0].media_id == "880012350"
    assert edit.text == "Torta (foto e re)"
    assert isinstance(alert, ChannelAlert) and alert.errors[0].code == 130429
    assert alert.errors[0].detail == "Cloud API message throughput has been reached."
    assert isinstance(changed, CustomerChanged) and changed.customer.id == "38349111222"
    assert (changed.new_id, changed.new_phone) == ("38349555666", "38349555666")
    assert isinstance(poll, Unsupported) and poll.raw_type == "poll"
    assert poll.errors[0].code == 131051 and poll.errors[0].detail
    assert isinstance(button, Postback) and button.reply_to == "wamid.OUT002"


async def test_account_fields_opt_ins_and_handover_reach_the_stream(relay: ServedApp) -> None:
    """What once became "open it in Messenger" or was ignored is streamed with its meaning.

    A template rejection (keyed by the WhatsApp Business Account saved when the number was
    connected), a marketing opt-out, a handover, a status's conversation and callback data,
    a Messenger opt-in's token; a repeat of the account-level body is stored once.
    """
    account = sign_up(relay.url)
    skip = _connect_kafe(account)
    names = [
        "whatsapp/template-rejected",
        "whatsapp/template-rejected",
        "whatsapp/user-preferences-stop",
        "messenger/handover-pass",
        "whatsapp/status-read-callback",
        "messenger/optin-one-time",
    ]
    for name in names:
        assert post_meta(relay.url, fixture_bytes(f"webhooks/{name}.json")).status_code == 200
    async with open_stream(account) as stream:
        events = [f.event for f in (await stream.events(skip + len(names) - 1))[skip:]]
    template, stop, handover, status, optin = events
    assert isinstance(template, ChannelAlert) and template.level == "problem"
    assert template.detail is not None and template.detail.startswith("Template oferta_e_javes")
    assert isinstance(stop, OptIn) and (stop.action, stop.customer.id) == ("opt_out", "38349111222")
    assert isinstance(handover, Handover) and handover.to_app == "263902037430900"
    assert isinstance(status, Status) and status.callback_data == "order-7781"
    assert status.conversation is not None and status.conversation.origin == "free_entry_point"
    assert isinstance(optin, OptIn) and optin.token == "otn-kafe-60"


async def test_a_deletion_is_not_a_repeat_of_the_message_it_deletes(relay: ServedApp) -> None:
    """An Instagram unsend carries the mid of the message it removes; both are streamed."""
    account = sign_up(relay.url)
    skip = _connect_kafe(account)
    for name in ("instagram/text", "instagram/unsent", "instagram/text"):
        assert post_meta(relay.url, fixture_bytes(f"webhooks/{name}.json")).status_code == 200
    assert post_meta(relay.url, messenger_text(KAFE_PAGE, "U9", "m_last", "end")).status_code == 200
    async with open_stream(account) as stream:
        frames = (await stream.events(skip + 3))[skip:]
    assert [f.event.__struct_config__.tag for f in frames] == [
        "message",
        "message_deleted",
        "message",
    ]
    assert frames[0].event.platform_id == frames[1].event.platform_id  # type: ignore[union-attr]
    assert frames[2].event.platform_id == "m_last"  # type: ignore[union-attr]


def test_unsupported_items_and_ignored_ones_are_counted(relay: ServedApp) -> None:
    """Unsupported items are counted per reason; items of unknown accounts per platform."""
    account = sign_up(relay.url)
    _connect_kafe(account)
    before = httpx.get(f"{relay.url}/metrics").text
    assert post_meta(relay.url, fixture_bytes("webhooks/whatsapp/order.json")).status_code == 200
    assert post_meta(relay.url, messenger_text("NOT-OURS", "U1", "m1", "hi")).status_code == 200
    after = httpx.get(f"{relay.url}/metrics").text
    unsupported = (
        'clientora_webhook_items_unsupported_total{platform="whatsapp",'
        'reason="unknown message type"}'
    )
    ignored = 'clientora_webhook_items_ignored_total{platform="messenger",reason="unknown page"}'
    assert _metric(after, unsupported) == _metric(before, unsupported) + 1
    assert _metric(after, ignored) == _metric(before, ignored) + 1


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


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
    "message-video": "message",
    "message-file": "message",
    "message-sticker": "message",
    "message-url": "message",
    "message-location": "message",
    "message-contact": "message",
    "message-rich-media": "unsupported",
    "conversation-started": "subscription",
    "delivered": "status",
    "seen": "status",
    "failed": "status",
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


def test_non_ascii_signature_or_verify_token_is_a_plain_403(relay: ServedApp) -> None:
    """A signature header or verify token with non-ASCII characters is refused, not an error."""
    account = sign_up(relay.url)
    channel = account.connect(platform="viber", auth_token=VIBER_TOKEN)
    body = json.dumps(messenger_text("PAGE1", "U1", "m1", "hi")).encode()
    odd = "sha256=é".encode("latin-1") + b"0" * 57
    r = httpx.post(
        f"{relay.url}/webhooks/meta", content=body, headers={b"X-Hub-Signature-256": odd}
    )
    assert r.status_code == 403
    r = httpx.post(
        f"{relay.url}/webhooks/viber/{channel['id']}",
        content=body,
        headers={b"X-Viber-Content-Signature": "é".encode("latin-1") * 64},
    )
    assert r.status_code == 403
    params = {"hub.mode": "subscribe", "hub.verify_token": "fjalëkalim", "hub.challenge": "7"}
    assert httpx.get(f"{relay.url}/webhooks/meta", params=params).status_code == 403


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
    """The same message id delivered many times, also at once, is one event; the metrics
    count one stored message and the rest as repeats."""
    account = sign_up(relay.url)
    account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    body = messenger_text("PAGE1", "U1", "mid.dup", "once please")
    stored, repeats = (
        'clientora_events_stored_total{kind="message"}',
        "clientora_events_duplicate_total",
    )
    before = httpx.get(f"{relay.url}/metrics").text
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: post_meta(relay.url, body).status_code, range(32)))
    assert codes == [200] * 32
    assert post_meta(relay.url, body).status_code == 200
    after = httpx.get(f"{relay.url}/metrics").text
    assert _metric(after, stored) == _metric(before, stored) + 1
    assert _metric(after, repeats) == _metric(before, repeats) + 32
    async with open_stream(account) as stream:
        frames = await stream.events(2)
        with pytest.raises(TimeoutError):
            await stream.events(1, timeout=0.3)
    assert frames[1].event.platform_id == "mid.dup"  # type: ignore[union-attr]


REPO_ROOT = Path(__file__).resolve().parents[1]


async def _run(command: list[str], env: dict[str, str]) -> tuple[int | None, str, str]:
    """Run the command line in a process of its own; returns exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


def _relay_env(tmp_path: Path) -> dict[str, str]:
    """The environment the test relay would run with (its database, keys and secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTORA_RELAY_")}
    env.update(
        CLIENTORA_RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.db'}",
        CLIENTORA_RELAY_MASTER_KEYS=TEST_KEYS,
        CLIENTORA_RELAY_META_APP_SECRET=APP_SECRET,
        CLIENTORA_RELAY_LOG_JSON="false",
        CLIENTORA_RELAY_HEALTH_INTERVAL_S="0",
    )
    return env


async def test_replay_command_posts_signed_payloads_and_prints_their_events(
    relay: ServedApp, tmp_path: Path
) -> None:
    """``clientora-relay replay`` signs saved bodies, posts them, and prints the events made."""
    account = sign_up(relay.url)
    _connect_kafe(account)
    viber = account.connect(platform="viber", auth_token=VIBER_TOKEN, name="Kafe bot")
    saved = tmp_path / "saved"
    saved.mkdir()
    files = []
    for name in ("webhooks/whatsapp/order.json", "webhooks/messenger/text.json"):
        files.append(saved / name.replace("/", "-"))
        files[-1].write_bytes(fixture_bytes(name))
    stranger = saved / "stranger.json"
    stranger.write_text(json.dumps(messenger_text("NOT-OURS", "U1", "m1", "hi")))
    callback = saved / "viber.json"
    callback.write_bytes(fixture_bytes("viber/message-text.json"))
    command = [sys.executable, "-m", "relay.cli", "replay", *map(str, files), str(stranger)]
    command += [str(callback), "--url", relay.url, "--viber-channel", viber["id"]]
    code, out, err = await _run(command, _relay_env(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{files[0]}: HTTP 200"
    order = msgspec.json.decode(lines[1].strip(), type=Event)
    assert isinstance(order, Unsupported) and order.raw_type == "order"
    assert lines[2] == f"{files[1]}: HTTP 200"
    text = msgspec.json.decode(lines[3].strip(), type=Event)
    assert isinstance(text, MessageReceived) and text.platform_id == "m_kafe-001"
    assert lines[4:6] == [f"{stranger}: HTTP 200", "  ignored: messenger: unknown page NOT-OURS"]
    assert lines[6] == f"{callback}: HTTP 200"
    assert '"kind":"message"' in lines[7] and "5491234567890123458" in lines[7]
    async with open_stream(account) as stream:
        frames = await stream.events(4 + 3)
    assert [str(f.event.__struct_config__.tag) for f in frames[4:]] == [
        "unsupported",
        "message",
        "message",
    ]
    code, out, err = await _run([*command[:5], "--url", relay.url], _relay_env(tmp_path))
    assert code == 0, err
    assert "no new events" in out


def test_a_message_the_app_cannot_show_still_opens_the_reply_window(relay: ServedApp) -> None:
    """A customer's only message is unsupported (nothing readable): the owner may still reply."""
    account = sign_up(relay.url)
    channel = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    item = {
        "sender": {"id": "PSID1"},
        "recipient": {"id": "PAGE1"},
        "timestamp": time.time_ns() // 1_000_000,
        "message": {"mid": "m-poll", "is_unsupported": True},
    }
    assert post_meta(relay.url, _page_envelope(item)).status_code == 200
    body = {
        "channel_id": channel["id"],
        "recipient_id": "PSID1",
        "text": "Na e dërgoni me tekst, ju lutem?",
        "idempotency_key": "reply-to-poll",
    }
    with account.client() as c:
        r = c.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
