"""Erasure at the relay: one customer, signed receipts, Meta's callback, whole accounts, pages."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common.events import CustomerErased, MessageReceived
from common.protocol import CloseCode, EventFrame
from relay.app import create_app
from relay.crypto import parse_keys
from relay.erasure import parse_signed_request
from relay.errors import RelayError
from relay.receipts import public_keys, verify_receipt
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.relay_helpers import (
    APP_SECRET,
    TEST_KEYS,
    Account,
    StreamClient,
    messenger_text,
    open_stream,
    post_meta,
    sign_up,
)
from tests.shared_data import load_fixture

PASSWORD = "correct horse battery"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_request(payload: dict[str, Any], secret: str = APP_SECRET) -> str:
    """What Meta posts: base64url(HMAC-SHA256 of the payload part).base64url(payload)."""
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{_b64(signature)}.{body}"


def fixture_payload(user_id: str) -> dict[str, Any]:
    """Meta's sample deletion payload, naming ``user_id``."""
    payload: dict[str, Any] = load_fixture("meta/data-deletion-payload.json")
    return {**payload, "user_id": user_id}


def post_deletion(base_url: str, signed: str | None) -> httpx.Response:
    data = {} if signed is None else {"signed_request": signed}
    return httpx.post(f"{base_url}/webhooks/meta/deletion", data=data, timeout=30)


def with_page(relay: ServedApp, page_id: str = "PAGE1") -> tuple[Account, str]:
    account = sign_up(relay.url)
    channel = account.connect(
        platform="messenger", page_id=page_id, access_token=PAGE_TOKEN, name="Kafe"
    )
    return account, str(channel["id"])


def second_device(account: Account, name: str = "Phone") -> Account:
    with account.client() as c:
        r = c.post("/v1/devices", json={"name": name})
        assert r.status_code == 201, r.text
    return dataclasses.replace(account, device_id=r.json()["id"])


def say(relay: ServedApp, page_id: str, psid: str, text: str) -> None:
    mid = f"m_{uuid.uuid4().hex}"
    r = post_meta(relay.url, messenger_text(page_id, psid, mid, text, ts=_now_ms()))
    assert r.status_code == 200, r.text


def erase(account: Account, channel_id: str, customer_id: str) -> httpx.Response:
    with account.client() as c:
        return c.delete(f"/v1/channels/{channel_id}/customers/{customer_id}")


async def all_events(account: Account) -> list[EventFrame]:
    """Everything the business's log holds now, read by a fresh replay."""
    async with open_stream(account) as stream:
        frames: list[EventFrame] = []
        while (frames[-1].seq if frames else 0) < stream.welcome.head:
            frames.extend(await stream.events(1))
    return frames


async def close_code(stream: StreamClient) -> int | None:
    """Read frames until the relay closes the stream; its close code."""
    try:
        while True:
            await stream.frame()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.fixture
def quick_relay(tmp_path: Path) -> Iterator[ServedApp]:
    """A relay that checks idle streams' sessions often, filled with operator details."""

    def build(base_url: str) -> object:
        return create_app(
            relay_settings(
                tmp_path,
                public_url=base_url,
                heartbeat_s=0.2,
                operator_name="Dyqani <Arta> & Co",
                operator_email="privacy@example.com",
                operator_address="Rr. Nëna Terezë 1\nPrishtinë",
                privacy_extra="We answer within <30> days.\n\nSecond paragraph.",
            )
        )

    with serve_app(AppFactory(build)) as served:
        yield served


# ---- erasing one customer ---------------------------------------------------------------


async def test_an_erased_customer_leaves_no_trace_in_the_database_files(
    relay: ServedApp, tmp_path: Path
) -> None:
    """After erasure neither the customer's words nor their ids remain in relay.db or its WAL."""
    account, page = with_page(relay)
    webchat = account.connect(platform="webchat", name="Site")["id"]
    say(relay, "PAGE1", "psid-TRACE-4711", "secret-words-7781")
    say(relay, "PAGE1", "psid-KEEP-1234", "kept-words-2024")
    with account.client() as c:
        sent = c.post(
            "/v1/messages",
            json={
                "channel_id": page,
                "recipient_id": "psid-TRACE-4711",
                "text": "reply-words-5521",
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert sent.status_code == 200, sent.text
    visitor = f"{relay.url}/webchat/{webchat}/messages"
    r = httpx.post(visitor, json={"visitor_id": "visitor-TRACE-9911", "text": "chat-words-3141"})
    assert r.status_code == 202
    assert erase(account, page, "psid-TRACE-4711").status_code == 200
    assert erase(account, webchat, "visitor-TRACE-9911").status_code == 200

    files = [tmp_path / "relay.db", tmp_path / "relay.db-wal"]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"kept-words-2024" in raw  # the scan reads the live data
    for trace in (
        b"psid-TRACE-4711",
        b"secret-words-7781",
        b"reply-words-5521",
        b"visitor-TRACE-9911",
        b"chat-words-3141",
    ):
        found = trace in raw  # not asserted directly: pytest would print the whole file
        assert not found, trace


async def test_every_device_is_told_by_hash_never_by_id(relay: ServedApp) -> None:
    """Each device gets CustomerErased with the customer's hash, an empty id and the request."""
    laptop, page = with_page(relay)
    phone = second_device(laptop)
    say(relay, "PAGE1", "psid-1", "hello")
    r = erase(laptop, page, "psid-1")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["relay"] == {"events": 1, "contacts": 1, "dedupe_keys": 1, "sends": 0}
    assert result["receipt_url"] == f"/v1/erasures/{result['request_id']}"
    expected = hashlib.sha256(f"{page}:psid-1".encode()).hexdigest()
    for device in (laptop, phone):
        async with open_stream(device) as stream:
            frames = await stream.events(2)  # channel connected, then the erasure
        notice = frames[-1].event
        assert isinstance(notice, CustomerErased)
        assert (notice.channel_id, notice.customer_id) == (page, "")
        assert (notice.customer_hash, notice.request_id) == (expected, result["request_id"])


def test_a_customer_the_relay_no_longer_holds_is_still_erased(relay: ServedApp) -> None:
    """An unknown customer gets 200 with zero relay counts: the devices may still hold them."""
    account, page = with_page(relay)
    r = erase(account, page, "never-wrote")
    assert r.status_code == 200
    assert r.json()["relay"] == {"events": 0, "contacts": 0, "dedupe_keys": 0, "sends": 0}


def test_ids_with_slashes_and_bad_ids_are_handled(relay: ServedApp) -> None:
    """A Viber-style id with / and = is erased; an over-long id is refused with 422."""
    account, page = with_page(relay)
    assert erase(account, page, "ab%2Fcd%3D%3D").status_code == 200
    r = erase(account, page, "x" * 300)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "bad_request"


def test_another_business_cannot_erase_on_my_channel(relay: ServedApp) -> None:
    """Another business's erase request for my channel is a 404 and my customer stays."""
    mine, page = with_page(relay)
    say(relay, "PAGE1", "psid-1", "still here")
    intruder = sign_up(relay.url)
    r = erase(intruder, page, "psid-1")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_channel"
    assert erase(mine, "no-such-channel", "psid-1").status_code == 404
    assert erase(mine, page, "psid-1").json()["relay"]["events"] == 1


async def test_an_erased_customer_writing_again_starts_afresh(relay: ServedApp) -> None:
    """After erasure new messages are stored and shown; nothing old comes back with them."""
    account, page = with_page(relay)
    webchat = account.connect(platform="webchat", name="Site")["id"]
    visitor = f"{relay.url}/webchat/{webchat}/messages"
    for text in ("old one", "old two"):
        r = httpx.post(
            visitor, json={"visitor_id": "visitor-0001", "text": text, "message_id": "m1" + text}
        )
        assert r.status_code == 202
    say(relay, "PAGE1", "psid-1", "old page message")
    assert erase(account, webchat, "visitor-0001").status_code == 200
    assert erase(account, page, "psid-1").status_code == 200
    assert httpx.get(visitor, params={"visitor_id": "visitor-0001"}).json() == []

    # The page resends an old message id too: it is stored as new, without its old company.
    httpx.post(
        visitor, json={"visitor_id": "visitor-0001", "text": "new", "message_id": "m1old one"}
    )
    say(relay, "PAGE1", "psid-1", "new page message")
    history = httpx.get(visitor, params={"visitor_id": "visitor-0001"}).json()
    assert [line["text"] for line in history] == ["new"]
    texts = [
        f.event.text for f in await all_events(account) if isinstance(f.event, MessageReceived)
    ]
    assert texts == ["new", "new page message"]


# ---- receipts ---------------------------------------------------------------------------


def _verify_independently(receipt: dict[str, Any], keys: list[dict[str, str]]) -> bool:
    """Verify as an outsider would: canonical JSON and Ed25519, no relay code."""
    key = next(k for k in keys if k["key_id"] == receipt["key_id"])
    raw = base64.urlsafe_b64decode(key["public_key"] + "=" * (-len(key["public_key"]) % 4))
    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    message = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signature = receipt["signature"]
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), message.encode()
        )
    except Exception:
        return False
    return True


def test_the_receipt_is_dated_signed_and_lists_each_device(relay: ServedApp) -> None:
    """Devices confirm what they erased; the receipt shows it and verifies with the public key."""
    laptop, page = with_page(relay)
    phone = second_device(laptop)
    say(relay, "PAGE1", "psid-1", "hello")
    request_id = erase(laptop, page, "psid-1").json()["request_id"]
    with laptop.client() as c:
        pending = c.get(f"/v1/erasures/{request_id}").json()
        assert [d["status"] for d in pending["devices"]] == ["pending", "pending"]
        counts = {"messages": 3, "drafts": 1, "customer": 1}
        r = c.post(
            f"/v1/erasures/{request_id}/confirm",
            json={"device_id": phone.device_id, "counts": counts},
        )
        assert r.status_code == 204, r.text
        receipt = c.get(f"/v1/erasures/{request_id}").json()
    assert receipt["request_id"] == request_id
    assert receipt["business_name"] == "Kafe Prishtina"
    assert receipt["channel"] == {"platform": "messenger", "name": "Kafe"}
    assert receipt["erased_at"].endswith("Z") and receipt["erased_at"][:4].isdigit()
    assert receipt["relay"] == {"events": 1, "contacts": 1, "dedupe_keys": 1, "sends": 0}
    assert receipt["devices"][0] == {"device_name": "Laptop", "status": "pending"}
    confirmed = receipt["devices"][1]
    assert (confirmed["device_name"], confirmed["status"], confirmed["counts"]) == (
        "Phone",
        "confirmed",
        counts,
    )
    assert "psid-1" not in json.dumps(receipt)

    keys = httpx.get(f"{relay.url}/v1/receipt-keys").json()["keys"]  # public: no token
    assert receipt["key_id"] == keys[0]["key_id"] == "t1"
    assert _verify_independently(receipt, keys)
    assert verify_receipt(receipt, keys[0]["public_key"])
    tampered = {**receipt, "relay": {**receipt["relay"], "events": 0}}
    assert not _verify_independently(tampered, keys)
    assert not verify_receipt(tampered, keys[0]["public_key"])
    assert not verify_receipt({**receipt, "signature": "AAAA"}, keys[0]["public_key"])


def test_receipt_keys_come_from_the_master_keys() -> None:
    """The signing key is derived from the master key: stable, and different per key id."""
    keyring = parse_keys(TEST_KEYS + ",old:" + _b64(bytes(32)))
    first, second = public_keys(keyring), public_keys(keyring)
    assert first == second
    assert [k["key_id"] for k in first] == ["t1", "old"]
    assert first[0]["public_key"] != first[1]["public_key"]


def test_another_business_cannot_read_or_confirm_my_erasure(relay: ServedApp) -> None:
    """Receipts and confirmations are scoped: another business gets 404 and changes nothing."""
    mine, page = with_page(relay)
    request_id = erase(mine, page, "psid-1").json()["request_id"]
    intruder = sign_up(relay.url)
    with intruder.client() as c:
        assert c.get(f"/v1/erasures/{request_id}").status_code == 404
        r = c.post(
            f"/v1/erasures/{request_id}/confirm",
            json={"device_id": intruder.device_id, "counts": {"messages": 0}},
        )
        assert r.status_code == 404
        # Nor with one of my device ids.
        r = c.post(
            f"/v1/erasures/{request_id}/confirm",
            json={"device_id": mine.device_id, "counts": {"messages": 0}},
        )
        assert r.status_code == 404
    with mine.client() as c:
        receipt = c.get(f"/v1/erasures/{request_id}").json()
        assert [d["status"] for d in receipt["devices"]] == ["pending"]
        assert c.get("/v1/erasures/nope").status_code == 404
    assert httpx.get(f"{relay.url}/v1/erasures/{request_id}").status_code == 401


def test_confirmations_with_odd_counts_are_refused(relay: ServedApp) -> None:
    """Counts must be a few named, non-negative numbers."""
    account, page = with_page(relay)
    request_id = erase(account, page, "psid-1").json()["request_id"]
    url = f"/v1/erasures/{request_id}/confirm"
    with account.client() as c:
        for counts in ({"messages": -1}, {"Bad Name": 1}, {f"k{i}": 1 for i in range(30)}):
            r = c.post(url, json={"device_id": account.device_id, "counts": counts})
            assert r.status_code == 422, counts
        r = c.post(url, json={"device_id": account.device_id, "counts": {"messages": "many"}})
        assert r.status_code == 400


# ---- Meta's data-deletion callback ------------------------------------------------------


async def test_meta_deletion_erases_the_person_in_every_business(relay: ServedApp) -> None:
    """A signed request erases the id on every Messenger/Instagram channel and shows a status."""
    ann, ann_page = with_page(relay, "PAGE1")
    bob, _ = with_page(relay, "PAGE2")
    carol = sign_up(relay.url)
    carol.connect(platform="webchat", name="Site")
    say(relay, "PAGE1", "218471", "ann's customer")
    say(relay, "PAGE1", "999", "someone else")
    say(relay, "PAGE2", "218471", "bob's customer")

    r = post_deletion(relay.url, signed_request(fixture_payload("218471")))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    answer = r.json()
    code = answer["confirmation_code"]
    assert code.isalnum()
    assert answer["url"] == f"{relay.url}/deletion/{code}"

    for account, kept in ((ann, ["someone else"]), (bob, [])):
        frames = await all_events(account)
        texts = [f.event.text for f in frames if isinstance(f.event, MessageReceived)]
        assert texts == kept
        notices = [f.event for f in frames if isinstance(f.event, CustomerErased)]
        assert len(notices) == 1
        assert notices[0].customer_id == ""
    assert [f.event for f in await all_events(carol) if isinstance(f.event, CustomerErased)] == []

    page = httpx.get(answer["url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert code in page.text
    assert "2 conversations" in page.text and "0 of 2" in page.text
    assert "218471" not in page.text
    [request_id] = [
        f.event.request_id for f in await all_events(ann) if isinstance(f.event, CustomerErased)
    ]
    with ann.client() as c:
        r = c.post(
            f"/v1/erasures/{request_id}/confirm",
            json={"device_id": ann.device_id, "counts": {"messages": 1}},
        )
        assert r.status_code == 204
        assert c.get(f"/v1/channels/{ann_page}").status_code == 200  # the page stays connected
    assert "1 of 2" in httpx.get(answer["url"]).text
    assert httpx.get(f"{relay.url}/deletion", params={"code": code}).status_code == 200


def test_meta_deletion_for_an_unknown_person_still_answers(relay: ServedApp) -> None:
    """A person the relay never saw gets a code and a page saying nothing was held."""
    r = post_deletion(relay.url, signed_request(fixture_payload("nobody-here")))
    assert r.status_code == 200
    page = httpx.get(r.json()["url"])
    assert page.status_code == 200 and "nothing to erase" in page.text


def _forged() -> str:
    return signed_request(fixture_payload("218471"), secret="not-the-app-secret")


def _wrong_algorithm() -> str:
    return signed_request({**fixture_payload("218471"), "algorithm": "HMAC-SHA1"})


def _no_user() -> str:
    payload = fixture_payload("218471")
    del payload["user_id"]
    return signed_request(payload)


def _not_json() -> str:
    body = _b64(b"not json")
    return _b64(hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).digest()) + "." + body


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (_forged, 403),
        (_wrong_algorithm, 400),
        (_no_user, 400),
        (_not_json, 400),
        (lambda: "abc!!.def$$", 400),
        (lambda: "no-dot-at-all", 400),
        (lambda: "a.", 400),
        (lambda: None, 400),
    ],
    ids=["forged", "algorithm", "no-user", "not-json", "bad-base64", "no-dot", "empty", "missing"],
)
async def test_a_bad_signed_request_erases_nothing(
    relay: ServedApp, make: Any, status: int
) -> None:
    """Forged, malformed or wrongly signed requests are refused and nothing is erased."""
    account, _ = with_page(relay)
    say(relay, "PAGE1", "218471", "still here")
    r = post_deletion(relay.url, make())
    assert r.status_code == status, r.text
    frames = await all_events(account)
    assert [f.event.text for f in frames if isinstance(f.event, MessageReceived)] == ["still here"]
    assert not [f for f in frames if isinstance(f.event, CustomerErased)]


def test_signed_request_parsing_follows_meta() -> None:
    """Padding is optional, numeric ids are read as text, and the algorithm's case is free."""
    payload = {"user_id": 218471, "algorithm": "hmac-sha256", "issued_at": 1}
    signed = signed_request(payload)
    assert parse_signed_request(signed, APP_SECRET) == "218471"
    sig, body = signed.split(".")
    padded = f"{sig}{'=' * (-len(sig) % 4)}.{body}"
    assert parse_signed_request(padded, APP_SECRET) == "218471"
    with pytest.raises(RelayError) as refused:
        parse_signed_request(signed, "")
    assert refused.value.status == 403
    with pytest.raises(RelayError) as tampered:
        parse_signed_request(
            f"{sig}.{_b64(json.dumps({**payload, 'user_id': 1}).encode())}", APP_SECRET
        )
    assert tampered.value.status == 403


# ---- deleting the whole account -----------------------------------------------------------


async def test_deleting_the_account_erases_it_and_ends_every_session(
    quick_relay: ServedApp,
) -> None:
    """With the password, everything goes: tokens stop working and open streams close."""
    account = sign_up(quick_relay.url, email="arta@example.com", password=PASSWORD)
    page = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)["id"]
    other, _ = with_page(quick_relay, "PAGE2")
    say(quick_relay, "PAGE1", "psid-1", "hello")
    async with open_stream(account) as stream:
        await stream.events(2)
        with account.client() as c:
            wrong = c.request("DELETE", "/v1/account", json={"password": "not my password"})
            assert wrong.status_code == 403
            assert c.get(f"/v1/channels/{page}").status_code == 200
            r = c.request("DELETE", "/v1/account", json={"password": PASSWORD})
            assert r.status_code == 204, r.text
        assert await close_code(stream) == CloseCode.SESSION_REVOKED
    with account.client() as c:
        assert c.get("/v1/channels").status_code == 401
    login = httpx.post(
        f"{quick_relay.url}/v1/login", json={"email": "arta@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401
    # The e-mail and the page may be used again; the other business is untouched.
    fresh = sign_up(quick_relay.url, email="arta@example.com", password=PASSWORD)
    fresh.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    frames = await all_events(fresh)
    assert [type(f.event).__name__ for f in frames] == ["ChannelChanged"]
    with other.client() as c:
        assert [ch["external_id"] for ch in c.get("/v1/channels").json()] == ["PAGE2"]


# ---- public pages -------------------------------------------------------------------------


def test_public_pages_are_filled_from_configuration_and_escaped(quick_relay: ServedApp) -> None:
    """/privacy and /data-deletion show the operator's details, escaped, on a responsive page."""
    privacy = httpx.get(f"{quick_relay.url}/privacy")
    deletion = httpx.get(f"{quick_relay.url}/data-deletion")
    for page in (privacy, deletion):
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="en">' in page.text
        assert 'name="viewport"' in page.text
        assert "Dyqani &lt;Arta&gt; &amp; Co" in page.text
        assert "<Arta>" not in page.text
        assert 'href="mailto:privacy@example.com"' in page.text
    assert "Rr. Nëna Terezë 1<br>" in privacy.text
    assert "We answer within &lt;30&gt; days." in privacy.text
    assert "<p>Second paragraph.</p>" in privacy.text
    assert "7 more days" in privacy.text and "30 days" in privacy.text
    assert 'action="/deletion"' in deletion.text and '<label for="code">' in deletion.text


def test_an_unknown_deletion_code_is_a_404_page(relay: ServedApp) -> None:
    """A status page for a code never issued says so, with 404."""
    for url in ("/deletion/ABC123", "/deletion?code=<script>", "/deletion"):
        page = httpx.get(f"{relay.url}{url}")
        assert page.status_code == 404
        assert "No such deletion request" in page.text
        assert "<script>" not in page.text


def test_pages_work_without_operator_details(relay: ServedApp) -> None:
    """With nothing configured the pages still read sensibly."""
    page = httpx.get(f"{relay.url}/privacy")
    assert page.status_code == 200
    assert "the operator of this service" in page.text
    assert "$" not in page.text


async def test_an_idle_relay_keeps_serving_during_erasures(relay: ServedApp) -> None:
    """Many erasures back to back leave the relay healthy (the WAL checkpoints between them)."""
    account, page = with_page(relay)
    results = await asyncio.gather(
        *(asyncio.to_thread(erase, account, page, f"psid-{i}") for i in range(10))
    )
    assert {r.status_code for r in results} == {200}
    assert httpx.get(f"{relay.url}/readyz").status_code == 200
