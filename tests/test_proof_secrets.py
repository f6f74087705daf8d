"""No password, token or key the relay is given shows up where it should not: its logs
(at DEBUG), its responses, its metrics, its database and WAL files."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bench._relay_proc import free_port, relay_process
from tests.conftest import PAGE_TOKEN, VIBER_TOKEN, WA_TOKEN
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.openai import FakeOpenAI, Reply, serve_fake_openai
from tests.fakes.server import serve_app
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
)

PASSWORD_1 = "first-Password-4b1d7e"
PASSWORD_2 = "second-Password-9c2f11"
GUESS = "guessed-Password-00aa55"
AI_KEY = "sk-operator-ai-key-5e3b9d0a"
MASTER_KEY = TEST_KEYS.split(":", 1)[1]


class Recorder:
    """Every response the tests saw, except the bodies that hand a session token out."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def record(self, response: httpx.Response) -> None:
        response.read()
        issued = response.request.url.path in ("/v1/signup", "/v1/login")
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.seen.append(head if issued else f"{head}\n{response.text}")

    def client(self, base_url: str, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=30,
            event_hooks={"response": [self.record]},
        )


@pytest.fixture
def fakes() -> Iterator[tuple[str, str, str]]:
    """Graph, Viber and an OpenAI upstream on free ports: their base URLs."""
    graph = FakeGraph(
        {PAGE_TOKEN, WA_TOKEN}, whatsapp_numbers={"106540352242922"}, instagram_ids=()
    )
    with (
        serve_app(graph.app) as g,
        serve_app(FakeViber({VIBER_TOKEN}).app) as v,
        serve_fake_openai(FakeOpenAI(api_key=AI_KEY)) as ai,
    ):
        ai.fake.push(Reply("Hello", usage=(10, 2)))
        yield f"{g.url}/{GRAPH_VERSION}", f"{v.url}/pa", ai.base_url


def _database_files(folder: Path, when: str) -> dict[str, bytes]:
    """The SQLite database and its -wal and -shm files, as they are now."""
    return {f"{p.name} ({when})": p.read_bytes() for p in folder.glob("relay.db*")}


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _scan(name: str, blob: bytes, secrets: dict[str, str]) -> list[str]:
    return [f"{label} in {name}" for label, value in secrets.items() if value.encode() in blob]


async def test_no_secret_in_logs_responses_metrics_or_database(
    tmp_path: Path, fakes: tuple[str, str, str]
) -> None:
    """A relay at DEBUG goes through sign-up, login, a password change, wrong logins,
    three kinds of channel, signed webhooks, the stream, a send, an AI call and a
    disconnect; then every secret it was given is looked for everywhere it keeps or says
    anything. None is found."""
    graph_url, viber_url, ai_url = fakes
    port = free_port()
    recorder = Recorder()
    tokens: dict[str, str] = {}
    relay = relay_process(
        tmp_path,
        port=port,
        log_level="DEBUG",
        public_url=f"http://127.0.0.1:{port}",
        graph_base_url=graph_url,
        viber_base_url=viber_url,
        ai_upstream_url=ai_url,
        ai_upstream_key=AI_KEY,
        retention_interval_s="0",
    )
    files: dict[str, bytes] = {}
    with relay:
        url = relay.url
        with recorder.client(url) as anon:
            signup = anon.post(
                "/v1/signup",
                json={
                    "business_name": "Kafe",
                    "name": "Arta",
                    "email": f"arta-{uuid.uuid4().hex[:6]}@example.com",
                    "password": PASSWORD_1,
                },
            )
            assert signup.status_code == 201
            tokens["session_1"] = signup.json()["token"]
        first = tokens["session_1"]
        with recorder.client(url, first) as c:
            me = c.post("/v1/devices", json={"name": "Laptop"}).json()
            assert (
                c.post(
                    "/v1/password", json={"current_password": GUESS, "new_password": PASSWORD_2}
                ).status_code
                == 403
            )
            assert (
                c.post(
                    "/v1/password",
                    json={"current_password": PASSWORD_1, "new_password": PASSWORD_2},
                ).status_code
                == 204
            )
            assert c.get("/v1/devices").status_code == 200
        with recorder.client(url) as anon:
            login_email = json.loads(signup.request.content)["email"]
            assert (
                anon.post("/v1/login", json={"email": login_email, "password": GUESS}).status_code
                == 401
            )
            assert (
                anon.post(
                    "/v1/login", json={"email": login_email, "password": PASSWORD_1}
                ).status_code
                == 401
            )
            login = anon.post("/v1/login", json={"email": login_email, "password": PASSWORD_2})
            assert login.status_code == 200
            tokens["session_2"] = login.json()["token"]
            anon.get(
                "/webhooks/meta",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": VERIFY_TOKEN,
                    "hub.challenge": "42",
                },
            )
        token = tokens["session_2"]
        with recorder.client(url, token) as c:
            page = c.post(
                "/v1/channels",
                json={"platform": "messenger", "page_id": "PAGE1", "access_token": PAGE_TOKEN},
            )
            assert page.status_code == 201, page.text
            wa = c.post(
                "/v1/channels",
                json={
                    "platform": "whatsapp",
                    "phone_number_id": "106540352242922",
                    "business_account_id": "WABA",
                    "access_token": WA_TOKEN,
                },
            )
            assert wa.status_code == 201, wa.text
            viber = c.post("/v1/channels", json={"platform": "viber", "auth_token": VIBER_TOKEN})
            assert viber.status_code == 201, viber.text
            assert (
                post_meta(
                    url,
                    messenger_text("PAGE1", "psid-1", "m.1", "Hi", ts=time.time_ns() // 1_000_000),
                ).status_code
                == 200
            )
            viber_body = {
                "event": "message",
                "timestamp": time.time_ns() // 1_000_000,
                "message_token": 5_000_000_000_000_001,
                "sender": {"id": "viber-user-1", "name": "Ana"},
                "message": {"type": "text", "text": "Hello"},
            }
            assert post_viber(url, viber.json()["id"], viber_body, VIBER_TOKEN).status_code == 200
            account = Account(url, token, login.json()["business_id"], me["id"])
            async with open_stream(account) as stream:
                got = await stream.events(4)
                await stream.ack(got[-1].seq)
            sent = c.post(
                "/v1/messages",
                json={
                    "channel_id": page.json()["id"],
                    "recipient_id": "psid-1",
                    "text": "Hello back",
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
            assert sent.status_code == 200, sent.text
            ai = c.post(
                "/ai/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            )
            assert ai.status_code == 200, ai.text
            for path in (
                "/metrics",
                "/v1/channels",
                f"/v1/channels/{page.json()['id']}/health",
                "/v1/usage",
                "/docs",
            ):
                c.get(path)
            assert c.delete(f"/v1/channels/{page.json()['id']}").status_code == 204
        files.update(_database_files(tmp_path, "running"))
    files.update(_database_files(tmp_path, "stopped"))
    log = _read(tmp_path / "relay.log")
    assert b"channel connected" in log and b"channel disconnected" in log

    secrets = {
        "password 1": PASSWORD_1,
        "password 2": PASSWORD_2,
        "guessed password": GUESS,
        "page token": PAGE_TOKEN,
        "WhatsApp token": WA_TOKEN,
        "Viber token": VIBER_TOKEN,
        "Meta app secret": APP_SECRET,
        "verify token": VERIFY_TOKEN,
        "master key": MASTER_KEY,
        "AI key": AI_KEY,
        **tokens,
    }
    found = _scan("relay.log", log, secrets)
    for name, blob in files.items():
        found += _scan(name, blob, secrets)
    for index, text in enumerate(recorder.seen):
        found += _scan(f"response {index}", text.encode(), secrets)
    assert len(recorder.seen) >= 20
    assert files, "the database files were not read"
    assert found == []
