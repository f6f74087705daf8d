"""Tenant isolation: business A calls every operation in the relay's OpenAPI schema, and
speaks every stream frame type, with business B's ids. Nothing of B reaches A, and
nothing A does changes B."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from common.events import MessageReceived
from common.protocol import Ack, CloseCode, EventFrame, Hello, Ping, Pong, encode
from tests.conftest import PAGE_TOKEN, VIBER_TOKEN
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.relay_helpers import (
    Account,
    messenger_text,
    open_stream,
    post_meta,
    sign_up,
    ws_url,
)

B_PASSWORD = "b-password-4471c0ffee"
B_NAME = "Shop-B-private-name"
B_TEXT = "B-private-text-7f3a"
B_REPLY = "B-private-reply-9e21"
PAGE_B = "PAGE_B_1"
VISITOR_B = "visitorB1234"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ShopB:
    """Business B with three channels, customer messages, a reply sent and an erasure."""

    def __init__(self, relay: ServedApp) -> None:
        self.email = f"b-{uuid.uuid4().hex[:8]}@example.com"
        self.account = sign_up(relay.url, email=self.email, password=B_PASSWORD)
        account = self.account
        self.page = account.connect(
            platform="messenger", page_id=PAGE_B, access_token=PAGE_TOKEN, name=B_NAME
        )["id"]
        self.chat = account.connect(platform="webchat", name=B_NAME)["id"]
        self.viber = account.connect(platform="viber", auth_token=VIBER_TOKEN, name=B_NAME)["id"]
        for psid, mid in (("psid-B-1", "mid-B-1"), ("psid-B-2", "mid-B-2")):
            r = post_meta(relay.url, messenger_text(PAGE_B, psid, mid, B_TEXT, _now_ms()))
            assert r.status_code == 200
        said = httpx.post(
            f"{relay.url}/webchat/{self.chat}/messages",
            json={"visitor_id": VISITOR_B, "text": B_TEXT},
        )
        assert said.status_code == 202
        self.idempotency_key = uuid.uuid4().hex
        with account.client() as c:
            sent = c.post(
                "/v1/messages",
                json={
                    "channel_id": self.page,
                    "recipient_id": "psid-B-1",
                    "text": B_REPLY,
                    "idempotency_key": self.idempotency_key,
                },
            )
            assert sent.status_code == 200, sent.text
            erased = c.delete(f"/v1/channels/{self.page}/customers/psid-B-2")
            assert erased.status_code == 200, erased.text
            self.request_id = erased.json()["request_id"]

    def snapshot(self) -> dict[str, Any]:
        """What B sees of its own business."""
        with self.account.client() as c:
            return {
                "channels": c.get("/v1/channels").json(),
                "devices": c.get("/v1/devices").json(),
                "receipt": c.get(f"/v1/erasures/{self.request_id}").status_code,
                "health": c.get(f"/v1/channels/{self.page}/health").status_code,
            }

    def markers(self) -> dict[str, str]:
        """Strings only B's data holds: A never sends them, so A must never read them."""
        return {
            "B's business id": self.account.business_id,
            "B's device id": self.account.device_id,
            "B's channel name": B_NAME,
            "B's customer text": B_TEXT,
            "B's reply": B_REPLY,
            "B's session": self.account.token,
        }


def _body_for(schema_ref: str | None, b: ShopB) -> dict[str, Any] | None:
    """A request body naming B's ids in every field that takes one."""
    name = (schema_ref or "").rsplit("/", 1)[-1]
    bodies: dict[str, dict[str, Any]] = {
        "SignUp": {
            "business_name": "A2",
            "name": "A",
            "email": b.email,
            "password": "a-password-long-enough",
        },
        "Login": {"email": b.email, "password": "not-B's-password"},
        "PasswordChange": {"current_password": B_PASSWORD, "new_password": "x" * 20},
        "RegisterDevice": {"name": "A's laptop"},
        "ConnectChannel": {"platform": "messenger", "page_id": PAGE_B, "access_token": PAGE_TOKEN},
        "SendReply": {
            "channel_id": b.page,
            "recipient_id": "psid-B-1",
            "text": "A-intrusion",
            "idempotency_key": b.idempotency_key,
        },
        "VisitorMessage": {"visitor_id": VISITOR_B, "text": "public visitor text"},
        "ErasureConfirmation": {"device_id": b.account.device_id, "counts": {"messages": 1}},
        "AccountDeletion": {"password": B_PASSWORD},
        "StartMetaLogin": {"device_id": b.account.device_id},
        "ConnectMetaAssets": {"picks": [f"messenger:{PAGE_B}"]},
    }
    return bodies.get(name, {} if schema_ref else None)


def _requests(spec: dict[str, Any], b: ShopB) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx arguments) for every operation, once per B id that fits."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    # Ending A's own session would stop the rest: those two run last.
    last = {("POST", "/v1/logout"), ("DELETE", "/v1/sessions/current"), ("DELETE", "/v1/account")}
    ordered = sorted(
        ((m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()),
        key=lambda item: (item[0], item[1]) in last,
    )
    for method, path, op in ordered:
        content = op.get("requestBody", {}).get("content", {})
        ref = next((c.get("schema", {}).get("$ref", "inline") for c in content.values()), None)
        body = _body_for(ref, b)
        query = {"visitor_id": VISITOR_B, "after": 0} if "visitor_id" in str(op) else {}
        channel_ids = [b.page, b.chat, b.viber] if "{channel_id}" in path else [""]
        for channel_id in channel_ids:
            url = (
                path.replace("{channel_id}", channel_id)
                .replace("{customer_id}", "psid-B-1")
                .replace("{request_id}", b.request_id)
                .replace("{login_id}", uuid.uuid4().hex)
            )
            arguments: dict[str, Any] = {"params": query}
            if body is not None:
                arguments["json"] = body
            out.append((method, url, arguments))
    return out


#: Public by design: a visitor's history and the chat it posts to are keyed by the
#: visitor's own secret id, not by a business session.
PUBLIC_WEBCHAT = ("/webchat/",)


async def test_business_a_reaches_nothing_of_business_b(
    relay: ServedApp, fake_graph: tuple[FakeGraph, ServedApp], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every operation and stream frame, as A with B's ids: 0 crossings, B unchanged."""
    b = ShopB(relay)
    fake, _ = fake_graph
    before = b.snapshot()
    sends_before = len([r for r in fake.requests if r.path.endswith(f"{PAGE_B}/messages")])
    a_email = f"a-{uuid.uuid4().hex[:8]}@example.com"
    a = sign_up(relay.url, email=a_email)
    spec = httpx.get(f"{relay.url}/docs/openapi.json").json()
    crossings: list[str] = []
    requests = _requests(spec, b)
    with a.client() as c:
        for method, url, arguments in requests:
            r = c.request(method, url, **arguments)
            assert r.status_code != 500, (method, url, r.text)
            if url.startswith(PUBLIC_WEBCHAT):
                continue
            text = r.text + "\n".join(r.headers.values())
            crossings += [
                f"{method} {url}: {label}" for label, v in b.markers().items() if v in text
            ]
            if method == "POST" and url == "/v1/messages":
                assert r.status_code == 404, r.text  # not B's earlier answer to that key

    # The last operations signed A out: sign in again for the stream.
    login = httpx.post(
        f"{relay.url}/v1/login", json={"email": a_email, "password": "correct horse battery"}
    )
    assert login.status_code == 200, login.text
    a = Account(a.base_url, login.json()["token"], a.business_id, a.device_id)
    frames = await _stream_as_a_with_b_ids(a, b)
    crossings += [f"stream: {label}" for label, v in b.markers().items() for f in frames if v in f]

    assert crossings == []
    assert b.snapshot() == before
    sends_after = len([r for r in fake.requests if r.path.endswith(f"{PAGE_B}/messages")])
    assert sends_after == sends_before
    async with open_stream(b.account) as stream:
        texts = await _texts(stream)
    assert "A-intrusion" not in texts
    operations = sum(len(ops) for ops in spec["paths"].values())
    with capsys.disabled():
        print(
            f"\ntenants: {operations} operations, {len(requests)} requests and"
            f" {len(frames)} stream frames as A with B's ids, {len(crossings)} crossings"
        )


async def _texts(stream: Any) -> list[str]:
    """The texts of every event in B's log."""
    head = stream.welcome.head
    texts: list[str] = []
    seq = 0
    while seq < head:
        frame = await stream.frame()
        if isinstance(frame, EventFrame):
            seq = frame.seq
            texts.append(getattr(frame.event, "text", "") or "")
    return texts


async def _stream_as_a_with_b_ids(a: Account, b: ShopB) -> list[str]:
    """Every client frame type as A: a hello naming B's device is refused; on A's own
    device, acks and pings naming B's sequence numbers bring nothing of B. Returns every
    frame A received, as text."""
    received: list[str] = []
    async with websockets.connect(
        ws_url(a.base_url), additional_headers=a.headers, compression=None
    ) as ws:
        await ws.send(encode(Hello(device_id=b.account.device_id)).decode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            received.append(str(await ws.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.FORBIDDEN

    async with open_stream(a) as stream:
        received.append(encode(stream.welcome).decode())
        for frame in (Ack(seq=10), Ping(nonce=7), Pong(nonce=7), Ack(seq=2**62)):
            await stream.ws.send(encode(frame).decode())
        got = await stream.frame()
        received.append(encode(got).decode())
        assert isinstance(got, Pong)  # the answer to the ping; no event of B came first
    async with open_stream(a, cursor=0) as stream:
        assert stream.welcome.head == 0  # A's log is empty: B's events are not A's
        received.append(encode(stream.welcome).decode())
    with a.client() as c:
        assert {d["cursor"] for d in c.get("/v1/devices").json()} == {0}
    assert not any(isinstance(x, MessageReceived) for x in received)
    return received
