"""The relay behind real Caddy with deploy/Caddyfile: HTTPS and WSS from Caddy's own CA."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import websockets

from common.events import MessageReceived
from common.protocol import EventFrame, Hello, Welcome, encode
from relay.webhooks.signatures import sign_meta
from tests.bench._relay_proc import PAGE_ID, REPO_ROOT, ServerProcess, free_port, relay_process
from tests.needs import tool
from tests.relay_helpers import APP_SECRET, messenger_text, sign_up

CADDYFILE = REPO_ROOT / "deploy" / "Caddyfile"


def _with_options(caddyfile: str, options: list[str]) -> str:
    """deploy/Caddyfile with test-only global options added to its own global block (or a
    new one: there may be only one, and it must come first)."""
    lines = caddyfile.splitlines(keepends=True)
    added = "".join(f"\t{option}\n" for option in options)
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            if line.strip() == "{":
                lines.insert(index + 1, added)
            else:
                lines.insert(index, "{\n" + added + "}\n")
            break
    return "".join(lines)


class Caddy:
    """``caddy run`` with deploy/Caddyfile plus test-only global options: its own ports,
    storage and CA (never installed into the system's trust store)."""

    def __init__(self, workdir: Path, upstream: str) -> None:
        self.https_port = free_port()
        self.workdir = workdir
        self.storage = workdir / "caddy-data"
        config = workdir / "Caddyfile"
        config.write_text(
            _with_options(
                CADDYFILE.read_text(),
                [
                    "admin off",
                    "skip_install_trust",
                    "local_certs",
                    f"http_port {free_port()}",
                    f"https_port {self.https_port}",
                    f"storage file_system {self.storage}",
                ],
            )
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "XDG_DATA_HOME": str(workdir / "xdg-data"),
            "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
            "CLIENTORA_DOMAIN": "127.0.0.1",
            "CLIENTORA_UPSTREAM": upstream,
        }
        self.log_path = workdir / "caddy.log"
        caddy = tool("caddy", "apt-get install caddy")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [caddy, "run", "--config", str(config), "--adapter", "caddyfile"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def wait_ready(self, timeout_s: float = 60.0) -> ssl.SSLContext:
        """Wait for Caddy's root certificate and a proxied /readyz; an SSL context that
        trusts only that root."""
        root = self.storage / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited:\n{self.log_path.read_text()[-3000:]}")
            if root.exists():
                context = ssl.create_default_context(cafile=str(root))
                try:
                    if httpx.get(f"{self.url}/readyz", verify=context).status_code == 200:
                        return context
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"caddy not ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def behind_caddy(tmp_path: Path) -> Iterator[tuple[ServerProcess, Caddy, ssl.SSLContext]]:
    tool("caddy", "apt-get install caddy")
    relay = relay_process(tmp_path, public_url="https://127.0.0.1", trusted_proxies="127.0.0.1,::1")
    relay.start()
    caddy = Caddy(tmp_path, f"127.0.0.1:{relay.port}")
    try:
        context = caddy.wait_ready()
        yield relay, caddy, context
    finally:
        caddy.stop()
        relay.stop()


async def _first_message(ws: websockets.ClientConnection) -> MessageReceived:
    while True:
        frame = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("type") == "event":
            event = msgspec.json.decode(msgspec.json.encode(frame), type=EventFrame).event
            if isinstance(event, MessageReceived):
                return event


def test_signed_webhook_over_https_arrives_on_a_wss_stream(
    behind_caddy: tuple[ServerProcess, Caddy, ssl.SSLContext],
) -> None:
    """A Meta webhook posted to Caddy over HTTPS (certificate from Caddy's CA, checked)
    reaches the relay with its signature intact and comes out on the device's WSS stream."""
    _, caddy, context = behind_caddy
    with httpx.Client(base_url=caddy.url, verify=context, timeout=30) as http:
        signup = http.post(
            "/v1/signup",
            json={
                "business_name": "Kafe",
                "name": "Arta",
                "email": "owner@example.com",
                "password": "correct horse battery",
            },
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        device = http.post("/v1/devices", json={"name": "Laptop"}, headers=auth).json()["id"]
        connected = http.post(
            "/v1/channels",
            json={"platform": "messenger", "page_id": PAGE_ID, "access_token": "EAAG-t"},
            headers=auth,
        )
        assert connected.status_code == 201, connected.text

    async def scenario() -> MessageReceived:
        async with websockets.connect(
            caddy.url.replace("https://", "wss://") + "/v1/stream",
            additional_headers=auth,
            ssl=context,
            compression=None,
        ) as ws:
            await ws.send(encode(Hello(device_id=device, cursor=0)).decode())
            msgspec.json.decode(await ws.recv(), type=Welcome)
            body = json.dumps(messenger_text(PAGE_ID, "customer-1", "m.tls.1", "Over TLS")).encode()
            async with httpx.AsyncClient(verify=context, timeout=30) as http:
                answer = await http.post(
                    f"{caddy.url}/webhooks/meta",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": sign_meta(body, APP_SECRET),
                    },
                )
            assert answer.status_code == 200, answer.text
            return await _first_message(ws)

    event = asyncio.run(scenario())
    assert event.platform_id == "m.tls.1"
    assert event.text == "Over TLS"


def test_web_chat_page_and_its_event_stream_work_through_the_proxy(
    behind_caddy: tuple[ServerProcess, Caddy, ssl.SSLContext],
) -> None:
    """The web-chat page and its assets load over HTTPS with their security headers, and a
    visitor's message comes back on the page's Server-Sent Events stream through Caddy
    while the stream stays open (nothing buffered in the proxy)."""
    relay, caddy, context = behind_caddy
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Kafe")["id"]

    with httpx.Client(base_url=caddy.url, verify=context, timeout=30) as http:
        page = http.get(f"/webchat/{channel}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in page.headers
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert http.get("/metrics").status_code == 404  # not published through the proxy
        assets = re.findall(r'(?:src|href)="(/webchat/assets/[^"]+)"', page.text)
        assert len(assets) == 2
        for asset in assets:
            assert http.get(asset).status_code == 200

    async def scenario() -> bytes:
        visitor = "visitor-tls-0001"
        async with (
            httpx.AsyncClient(base_url=caddy.url, verify=context, timeout=30) as http,
            http.stream(
                "GET", f"/webchat/{channel}/events", params={"visitor_id": visitor}
            ) as events,
        ):
            assert events.headers["content-type"].startswith("text/event-stream")
            chunks = events.aiter_bytes()
            assert (await asyncio.wait_for(anext(chunks), 30)).startswith(b"retry:")
            said = await http.post(
                f"/webchat/{channel}/messages",
                json={"visitor_id": visitor, "text": "Hello through TLS", "name": "Ana"},
            )
            assert said.status_code == 202, said.text
            received = b""
            while b"Hello through TLS" not in received:
                received += await asyncio.wait_for(anext(chunks), 30)
            return received

    assert b"data:" in asyncio.run(scenario())
