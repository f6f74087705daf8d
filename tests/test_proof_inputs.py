"""Hostile input from anyone on the internet gets a clear 4xx, never a 500 or a traceback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from common.protocol import CloseCode, Hello, encode
from tests.bench._relay_proc import relay_process
from tests.conftest import VIBER_TOKEN
from tests.fakes.server import ServedApp
from tests.relay_helpers import (
    APP_SECRET,
    open_stream,
    post_meta,
    post_viber,
    sign_up,
    ws_url,
)

#: 50,000 levels: far past the interpreter's recursion limit when decoded recursively.
DEEP_ARRAY = b"[" * 50_000 + b"]" * 50_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("path", ["/v1/login", "/v1/signup"])
def test_deeply_nested_json_on_login_and_sign_up_is_a_400(
    relay: ServedApp, path: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A body nested 50,000 deep is refused as malformed, with no traceback logged."""
    r = httpx.post(relay.url + path, content=body, headers=JSON, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "The request body is nested too deeply."
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"


def test_deeply_nested_json_on_web_chat_and_webhooks_is_refused_quietly(
    relay: ServedApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Web chat answers 400; signed webhooks answer 200 (a platform retries anything
    else) and log that the body was not understood; nothing is stored, no traceback."""
    account = sign_up(relay.url)
    chat = account.connect(platform="webchat", name="Shop")
    r = httpx.post(f"{relay.url}/webchat/{chat['id']}/messages", content=DEEP_OBJECT, headers=JSON)
    assert r.status_code == 400, r.text

    assert post_meta(relay.url, DEEP_ARRAY).status_code == 200
    viber = account.connect(platform="viber", auth_token=VIBER_TOKEN)
    assert post_viber(relay.url, viber["id"], DEEP_OBJECT, VIBER_TOKEN).status_code == 200

    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
    assert any("not understood" in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize("after", [str(2**63), str(2**70), str(-(2**70)), "-1"])
def test_web_chat_history_refuses_sequence_numbers_beyond_64_bits(
    relay: ServedApp, after: str
) -> None:
    """``?after=`` outside what the store holds is a 400 naming the parameter."""
    account = sign_up(relay.url)
    chat = account.connect(platform="webchat", name="Shop")
    url = f"{relay.url}/webchat/{chat['id']}/messages"
    r = httpx.get(url, params={"visitor_id": "visitor-123", "after": after})
    assert r.status_code == 400, r.text
    assert "after" in r.text
    ok = httpx.get(url, params={"visitor_id": "visitor-123", "after": str(2**63 - 1)})
    assert ok.status_code == 200, ok.text
    assert ok.json() == []


@pytest.mark.parametrize("last_event_id", [str(2**70).encode(), "²".encode(), b"\xff\xfe"])
def test_a_web_chat_resume_with_an_impossible_last_event_id_starts_from_after(
    relay: ServedApp, last_event_id: bytes
) -> None:
    """A ``Last-Event-ID`` that is not a 64-bit sequence number is ignored: the stream
    opens and replays the visitor's line."""
    account = sign_up(relay.url)
    chat = account.connect(platform="webchat", name="Shop")
    base = f"{relay.url}/webchat/{chat['id']}"
    said = httpx.post(f"{base}/messages", json={"visitor_id": "visitor-123", "text": "hi"})
    assert said.status_code == 202
    with httpx.stream(
        "GET",
        f"{base}/events",
        params={"visitor_id": "visitor-123"},
        headers=[(b"last-event-id", last_event_id)],
        timeout=10,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                assert json.loads(line[6:])["text"] == "hi"
                break


@pytest.mark.parametrize(
    "fields",
    [
        {"platform": "viber", "auth_token": "4453b6ac1234-tökén"},
        {"platform": "messenger", "page_id": "104000000000001", "access_token": "EAAG tökén"},
        {"platform": "messenger", "page_id": "1040 ä", "access_token": "EAAG-token"},
        {
            "platform": "whatsapp",
            "phone_number_id": "106540352242922",
            "access_token": "EAAG\u200btoken",
            "business_account_id": "WABA",
        },
    ],
    ids=["viber-token", "messenger-token", "messenger-id", "whatsapp-zero-width"],
)
def test_non_ascii_pasted_credentials_are_a_422(
    relay: ServedApp, fields: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Accents, spaces or invisible characters in a pasted id or token are refused with
    a message naming the field, before anything is stored or sent to a platform."""
    account = sign_up(relay.url)
    with account.client() as c:
        r = c.post("/v1/channels", json=fields)
        assert r.status_code == 422, r.text
        assert "copy it again" in r.json()["error"]["message"]
        assert c.get("/v1/channels").json() == []
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"ack","seq":' + str(2**70).encode() + b"}",
        b'{"type":"ack","seq":-1}',
        b'{"type":"ping","nonce":' + str(2**64).encode() + b"}",
        b'{"type":"ack","seq":1,"x":' + DEEP_ARRAY + b"}",
    ],
    ids=["huge-ack", "negative-ack", "huge-nonce", "deep"],
)
async def test_impossible_stream_frames_close_the_stream_as_bad_frames(
    relay: ServedApp, frame: bytes
) -> None:
    """Frames with numbers beyond 64 bits or nesting beyond any need close the stream
    with the bad-frame code; the device's cursor is untouched."""
    account = sign_up(relay.url)
    async with open_stream(account) as stream:
        await stream.ws.send(frame.decode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await stream.frame(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.BAD_FRAME
    with account.client() as c:
        assert c.get("/v1/devices").json()[0]["cursor"] == 0


async def test_a_hello_with_a_cursor_beyond_64_bits_is_a_bad_frame(relay: ServedApp) -> None:
    """The first frame is checked the same way."""
    account = sign_up(relay.url)
    async with websockets.connect(
        ws_url(account.base_url), additional_headers=account.headers, compression=None
    ) as ws:
        hello = encode(Hello(device_id=account.device_id)).decode()
        await ws.send(hello.replace('"cursor":0', f'"cursor":{2**64}'))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.BAD_FRAME


def test_the_web_chat_address_limit_is_per_shop(relay: ServedApp) -> None:
    """Many visitors of one shop behind one address are slowed down; the same address
    can still write to another shop's chat."""
    shop_a = sign_up(relay.url).connect(platform="webchat", name="A")["id"]
    shop_b = sign_up(relay.url).connect(platform="webchat", name="B")["id"]

    def say(channel_id: str) -> int:
        visitor = f"visitor-{uuid.uuid4().hex[:12]}"
        r = httpx.post(
            f"{relay.url}/webchat/{channel_id}/messages",
            json={"visitor_id": visitor, "text": "hello"},
        )
        return r.status_code

    statuses = [say(shop_a) for _ in range(13)]
    assert statuses[:12] == [202] * 12
    assert statuses[12] == 429
    assert say(shop_b) == 202


def test_public_pages_carry_a_content_policy_and_nosniff(relay: ServedApp) -> None:
    """/privacy, /data-deletion and a deletion status page forbid scripts and framing
    and tell browsers not to guess types."""
    for path in ("/privacy", "/data-deletion", "/deletion/abc123", "/deletion?code=abc123"):
        r = httpx.get(relay.url + path, follow_redirects=False)
        assert r.headers["x-content-type-options"] == "nosniff", path
        policy = r.headers["content-security-policy"]
        assert "default-src 'none'" in policy, path
        assert "frame-ancestors 'none'" in policy, path


def test_docs_serve_the_schema_and_load_nothing_from_elsewhere(relay: ServedApp) -> None:
    """/docs answers the OpenAPI schema itself; no page that pulls a script from a CDN."""
    for path in ("/docs", "/docs/openapi.json"):
        r = httpx.get(relay.url + path, follow_redirects=True)
        assert r.status_code == 200, path
        assert r.json()["openapi"].startswith("3."), path
        assert b"<script" not in r.content


def _signed_request(user_id: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    body = b64(json.dumps({"user_id": user_id, "algorithm": "HMAC-SHA256"}).encode())
    signature = hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).digest()
    return f"{b64(signature)}.{body}"


def test_a_replayed_data_deletion_request_is_refused(relay: ServedApp) -> None:
    """The same signed_request posted twice: the first is answered with a code, the
    replay with 409 pointing at the first one's status page."""
    signed = _signed_request(f"app-user-{uuid.uuid4().hex[:8]}")
    url = f"{relay.url}/webhooks/meta/deletion"
    first = httpx.post(url, data={"signed_request": signed})
    assert first.status_code == 200, first.text
    code = first.json()["confirmation_code"]
    again = httpx.post(url, data={"signed_request": signed})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "replayed"
    assert f"/deletion/{code}" in again.json()["error"]["message"]
    other = httpx.post(url, data={"signed_request": _signed_request("someone-else")})
    assert other.status_code == 200
    assert other.json()["confirmation_code"] != code


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"], ids=["default", "configured"])
def test_forwarded_for_is_believed_only_from_configured_proxies(
    tmp_path: Path, trusted: str
) -> None:
    """By default a client cannot dodge the login limit by inventing X-Forwarded-For;
    with the proxy's address configured, each forwarded client has its own allowance."""
    settings: dict[str, str] = {"login_rate_per_minute": "3"}
    if trusted:
        settings["trusted_proxies"] = trusted
    with relay_process(tmp_path, 0, **settings) as relay:
        statuses = [
            httpx.post(
                relay.url + "/v1/login",
                json={"email": "nobody@example.com", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
                timeout=30,
            ).status_code
            for i in range(5)
        ]
    if trusted:
        assert statuses == [401] * 5
    else:
        assert statuses[:3] == [401] * 3
        assert 429 in statuses[3:]
