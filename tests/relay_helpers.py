"""Helpers for tests that talk to a real relay over HTTP and WebSocket."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import websockets

from common.protocol import (
    SERVER_FRAME_DECODER,
    Ack,
    EventFrame,
    Hello,
    ServerFrame,
    Welcome,
    encode,
)
from relay.send import SendError
from relay.webhooks.signatures import sign_meta, sign_viber

APP_SECRET = "test-app-secret-0123456789"
VERIFY_TOKEN = "test-verify-token"
TEST_KEYS = "t1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")


@dataclass
class Account:
    """A signed-up business: its session token, ids and one registered device."""

    base_url: str
    token: str
    business_id: str
    device_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30)

    def connect(self, **fields: Any) -> dict[str, Any]:
        return self.call("POST", "/v1/channels", fields, expect=201)

    def send(self, channel_id: str, **fields: Any) -> httpx.Response:
        """POST /v1/messages: "Hello!" to PSID1 under a fresh idempotency key, unless
        ``fields`` say otherwise."""
        body = {
            "channel_id": channel_id,
            "recipient_id": "PSID1",
            "text": "Hello!",
            "idempotency_key": uuid.uuid4().hex,
            **fields,
        }
        with self.client() as c:
            return c.post("/v1/messages", json=body)

    def call(
        self, method: str, path: str, body: Any = None, *, expect: int = 200
    ) -> dict[str, Any]:
        """The relay's JSON answer to one request, which must have status ``expect``."""
        with self.client() as c:
            r = c.request(method, path, json=body)
        assert r.status_code == expect, r.text
        result: dict[str, Any] = r.json()
        return result


def sign_up(
    base_url: str, email: str | None = None, password: str = "correct horse battery"
) -> Account:
    email = email or f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.post(
            "/v1/signup",
            json={
                "business_name": "Kafe Prishtina",
                "name": "Arta",
                "email": email,
                "password": password,
            },
        )
        assert r.status_code == 201, r.text
        session = r.json()
        d = c.post(
            "/v1/devices",
            json={"name": "Laptop"},
            headers={"Authorization": f"Bearer {session['token']}"},
        )
        assert d.status_code == 201, d.text
    return Account(base_url, session["token"], session["business_id"], d.json()["id"])


def post_meta(
    base_url: str,
    payload: dict[str, Any] | bytes,
    *,
    secret: str = APP_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature if signature is not None else sign_meta(body, secret),
    }
    return httpx.post(f"{base_url}/webhooks/meta", content=body, headers=headers, timeout=30)


def post_viber(
    base_url: str, channel_id: str, payload: dict[str, Any] | bytes, token: str
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(
        f"{base_url}/webhooks/viber/{channel_id}",
        content=body,
        timeout=30,
        headers={"X-Viber-Content-Signature": sign_viber(body, token)},
    )


def messenger_text(
    page_id: str, psid: str, mid: str, text: str, ts: int = 1_700_000_000_000
) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": ts,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": page_id},
                        "timestamp": ts,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


class StreamClient:
    """A minimal device: says hello, reads frames, acknowledges."""

    def __init__(self, ws: websockets.ClientConnection, welcome: Welcome) -> None:
        self.ws = ws
        self.welcome = welcome

    async def frame(self, timeout: float = 10) -> ServerFrame:
        import asyncio

        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: ServerFrame = SERVER_FRAME_DECODER.decode(raw)
        return frame

    async def events(
        self, count: int, timeout: float = 10, ack_every: int = 256
    ) -> list[EventFrame]:
        """Read ``count`` events, acknowledging as a real device does (the relay stops
        sending once too many are unacknowledged)."""
        got: list[EventFrame] = []
        while len(got) < count:
            frame = await self.frame(timeout)
            if isinstance(frame, EventFrame):
                got.append(frame)
                if len(got) % ack_every == 0:
                    await self.ack(frame.seq)
        return got

    async def ack(self, seq: int) -> None:
        await self.ws.send(encode(Ack(seq=seq)).decode())


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/v1/stream"


@asynccontextmanager
async def open_stream(
    account: Account, cursor: int = 0, token: str | None = None
) -> AsyncIterator[StreamClient]:
    async with websockets.connect(
        ws_url(account.base_url),
        additional_headers={"Authorization": f"Bearer {token or account.token}"},
        compression=None,
    ) as ws:
        await ws.send(encode(Hello(device_id=account.device_id, cursor=cursor)).decode())
        welcome = msgspec.json.decode(await ws.recv(), type=Welcome)
        yield StreamClient(ws, welcome)


def assert_not_shown(err: SendError, secret: str) -> None:
    """``secret`` (a token) is in none of the error's texts: what logs and answers show."""
    for shown in (str(err), repr(err), err.message, err.detail or "", *map(str, err.args)):
        assert secret not in shown
