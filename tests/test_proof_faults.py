"""Faults around the relay: its database connections cut, the platform throttling,
hanging, resetting or unreachable. Each ends in a clear answer, nothing lost or doubled.

(A relay SIGKILLed mid-burst is proven in tests/test_relay_crash.py.)"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from common.events import MessageReceived, MessageSent
from common.protocol import EventFrame
from relay.app import create_app
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, graph_error
from tests.fakes.openai import Error, FakeOpenAI, serve_fake_openai
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.pg import admin_dsn, pg_schema
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- PostgreSQL connections cut --------------------------------------------------------------


async def _terminate(application_name: str) -> int:
    """Cut every server connection of one relay (only its own: the server is shared)."""
    admin = await asyncpg.connect(admin_dsn(), timeout=5)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
    finally:
        await admin.close()
    return len(rows)


@pytest.mark.postgres
async def test_postgres_connections_cut_mid_traffic_lose_nothing(tmp_path: Path) -> None:
    """Webhooks flow while every database connection of the relay is terminated twice.
    Each webhook is answered 200 (stored) or an error (Meta sends it again, as here);
    in the end all of them reach the device once each, and the relay is ready again."""
    async with pg_schema() as dsn:
        name = f"clientora-fault-{secrets.token_hex(4)}"
        settings = relay_settings(tmp_path, database_url=f"{dsn}&application_name={name}")
        with serve_app(AppFactory(lambda url: create_app(settings))) as relay:
            account = sign_up(relay.url)
            account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
            mids = [f"pg-fault-{i}" for i in range(30)]
            answers: dict[str, list[int]] = {mid: [] for mid in mids}
            cuts = 0
            for i, mid in enumerate(mids):
                if i in (8, 20):
                    cuts += await _terminate(name)
                body = messenger_text("PAGE1", "PSID1", mid, f"text {i}", _now_ms())
                for _ in range(10):  # Meta's redelivery, compressed in time
                    r = await asyncio.to_thread(post_meta, relay.url, body)
                    answers[mid].append(r.status_code)
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.2)
            assert cuts >= 2
            assert all(codes[-1] == 200 for codes in answers.values()), answers
            ready = await asyncio.to_thread(httpx.get, f"{relay.url}/readyz")
            assert ready.status_code == 200
            async with open_stream(account) as stream:
                frames = await stream.events(len(mids) + 1)  # + the channel's "connected"
            got = [
                f.event.platform_id or "" for f in frames if isinstance(f.event, MessageReceived)
            ]
            assert sorted(got) == sorted(mids)


# ---- the platform misbehaves ---------------------------------------------------------------


def _relay_for(tmp_path: Path, graph_url: str, **overrides: Any) -> Any:
    settings = relay_settings(tmp_path, graph_url=graph_url, **overrides)
    return serve_app(AppFactory(lambda url: create_app(settings)))


def _reply(account: Account, channel_id: str, key: str) -> httpx.Response:
    with account.client() as c:
        return c.post(
            "/v1/messages",
            json={
                "channel_id": channel_id,
                "recipient_id": "PSID1",
                "text": "Po",
                "idempotency_key": key,
            },
        )


def _shop(relay: ServedApp) -> tuple[Account, str]:
    account = sign_up(relay.url)
    channel = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    r = post_meta(relay.url, messenger_text("PAGE1", "PSID1", "m-1", "Hi", _now_ms()))
    assert r.status_code == 200
    return account, channel["id"]


async def _sent_events(account: Account) -> list[MessageSent]:
    """Every ``MessageSent`` in the business's log."""
    async with open_stream(account) as stream:
        frames: list[EventFrame] = await stream.events(stream.welcome.head)
    return [f.event for f in frames if isinstance(f.event, MessageSent)]


async def test_throttling_with_retry_after_is_waited_out_and_sent_once(tmp_path: Path) -> None:
    """Graph answers 429 with Retry-After: 1, then accepts: one message at the platform,
    one ``MessageSent`` on the stream."""
    fake = FakeGraph({PAGE_TOKEN})
    with (
        serve_app(fake.app) as graph,
        _relay_for(tmp_path, f"{graph.url}/{GRAPH_VERSION}") as relay,
    ):
        account, channel_id = _shop(relay)
        fake.reset()
        fake.fail_next(
            1,
            status=429,
            body=graph_error(4, "(#4) Application request limit reached"),
            headers={"Retry-After": "1"},
        )
        r = await asyncio.to_thread(_reply, account, channel_id, uuid.uuid4().hex)
        assert r.status_code == 200, r.text
        posts = [q for q in fake.requests if q.method == "POST"]
        assert len(posts) == 2
        sent = await _sent_events(account)
        assert len(sent) == 1


async def test_platform_errors_on_every_attempt_are_a_clear_502(tmp_path: Path) -> None:
    """Graph answers 500 to every attempt: a typed 502 the desktop can retry; no
    ``MessageSent``; the same key then goes out once Graph is back."""
    fake = FakeGraph({PAGE_TOKEN})
    with (
        serve_app(fake.app) as graph,
        _relay_for(tmp_path, f"{graph.url}/{GRAPH_VERSION}") as relay,
    ):
        account, channel_id = _shop(relay)
        fake.reset()
        fake.fail_next(3, status=500)
        key = uuid.uuid4().hex
        r = await asyncio.to_thread(_reply, account, channel_id, key)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "platform_error"
        again = await asyncio.to_thread(_reply, account, channel_id, key)
        assert again.status_code == 200, again.text
        assert len([q for q in fake.requests if q.method == "POST"]) == 4
        assert len(await _sent_events(account)) == 1


@contextmanager
def _misbehaving_server(mode: str) -> Iterator[str]:
    """A TCP server that accepts and then hangs (``hang``) or resets the connection
    after reading the request (``reset``); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if mode == "reset":
                conn.settimeout(2)
                with suppress(OSError):
                    conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{GRAPH_VERSION}"
    finally:
        stop.set()
        thread.join(5)
        sock.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("mode", ["hang", "reset"])
async def test_a_hanging_or_resetting_platform_is_not_sent_twice(tmp_path: Path, mode: str) -> None:
    """The request reached the platform, then no answer came (time-out) or the
    connection was reset: the message may have gone out, so it is not retried; the
    answer says so, and nothing is recorded as sent."""
    with (
        _misbehaving_server(mode) as graph_url,
        _relay_for(tmp_path, graph_url, send_timeout_s=0.5, send_attempts=3) as relay,
    ):
        account, channel_id = _shop(relay)
        r = await asyncio.to_thread(_reply, account, channel_id, uuid.uuid4().hex)
        assert r.status_code in (422, 502), r.text
        error = r.json()["error"]
        assert error["code"] == "platform_error"
        if mode == "hang":
            assert "may or may not have been delivered" in error["message"]
        assert await _sent_events(account) == []


async def test_an_unreachable_platform_is_retried_then_a_clear_502(tmp_path: Path) -> None:
    """Nothing listens where Graph should be: retried, then 502 "could not reach"."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/{GRAPH_VERSION}"
    with _relay_for(tmp_path, url) as relay:
        account, channel_id = _shop(relay)
        r = await asyncio.to_thread(_reply, account, channel_id, uuid.uuid4().hex)
        assert r.status_code == 502, r.text
        assert "Could not reach" in r.json()["error"]["message"]


# ---- the model API misbehaves ----------------------------------------------------------------


def _chat(relay: ServedApp, account: Account) -> httpx.Response:
    return httpx.post(
        f"{relay.url}/ai/v1/chat/completions",
        headers=account.headers,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=30,
    )


def test_model_api_throttling_and_outage_reach_the_desktop_typed(tmp_path: Path) -> None:
    """The AI upstream answers 429 with Retry-After, then 500, then is gone: the desktop
    gets the same status and hint in OpenAI's shape (its SDK retries by them), then a
    502."""
    with serve_fake_openai(FakeOpenAI(api_key="sk-operator")) as upstream:
        settings = relay_settings(
            tmp_path, ai_upstream_url=upstream.base_url, ai_upstream_key="sk-operator"
        )
        with serve_app(AppFactory(lambda url: create_app(settings))) as relay:
            account = sign_up(relay.url)
            upstream.fake.push(Error(429, retry_after="7"), Error(500))
            throttled = _chat(relay, account)
            assert throttled.status_code == 429, throttled.text
            assert throttled.headers["retry-after"] == "7"
            assert "error" in throttled.json()
            failed = _chat(relay, account)
            assert failed.status_code == 500 and "error" in failed.json()
            upstream.served.stop()
            gone = _chat(relay, account)
            assert gone.status_code == 502, gone.text
