"""The desktop killed after storing an event and before acknowledging it.

The desktop core (store + event sync, no Qt) runs in a child process, talking to a real
relay through the TCP proxy of ``test_faults_network``. Once the child is live, the proxy
swallows what the child sends (its acks), so the child commits a customer's message the
relay never hears acknowledged; the test then SIGKILLs it. Restarted from the cursor the
relay holds (an at-least-once stream may resend anything not acknowledged), the child is
sent the event again and must apply it once: one message bubble, not two.

Run as ``python -m tests.test_faults_desktop_crash DB URL TOKEN DEVICE`` it is the child.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from pathlib import Path

import httpx

from common.protocol import ConnectChannel, SignUp
from desktop.core.relay_client import Backoff, RelayClient
from desktop.core.store import Store
from desktop.core.sync import EventSync, wait_for_status
from tests.conftest import PAGE_TOKEN
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text
from tests.test_desktop_sync import PAGE, eventually, now_ms, post
from tests.test_faults_network import proxy_to

REPO_ROOT = Path(__file__).resolve().parents[1]


async def _child(db: str, url: str, token: str, device_id: str) -> None:
    store = await Store.open(db)
    client = RelayClient(url, token=token)
    sync = EventSync(store, client, device_id, backoff=Backoff(initial_s=0.05, cap_s=0.5))
    sync.start()
    await wait_for_status(sync, lambda s: s.state == "live", 30)
    print("live", flush=True)
    await asyncio.Event().wait()  # until killed


async def _start_child(
    db: Path, url: str, token: str, device_id: str
) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.test_faults_desktop_crash",
        str(db),
        url,
        token,
        device_id,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    assert line.strip() == b"live", line
    return child


def _bubbles(db: Path, mid: str) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE platform_id = ?", (mid,)
        ).fetchone()
    conn.close()
    return int(count)


async def _relay_cursor(url: str, token: str, device_id: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        devices = (
            await http.get("/v1/devices", headers={"Authorization": f"Bearer {token}"})
        ).json()
    (device,) = [d for d in devices if d["id"] == device_id]
    return int(device["cursor"])


async def test_desktop_killed_after_commit_before_ack_applies_the_event_once(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    client = RelayClient(relay.url)
    session = await client.signup(
        SignUp(
            business_name="Kafe",
            name="Arta",
            email=f"o-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery",
        )
    )
    device = await client.register_device("Laptop")
    await client.connect_channel(
        ConnectChannel(platform="messenger", page_id=PAGE, access_token=PAGE_TOKEN, name="Kafe")
    )
    await client.aclose()
    db = tmp_path / "desktop.db"
    store = await Store.open(db)
    await store.set_identity(session.business_id, device.id)
    await store.close()
    token = session.token

    async with proxy_to(relay) as proxy:
        child = await _start_child(db, proxy.url, token, device.id)
        try:
            proxy.drop_upstream = True  # from now on no ack reaches the relay
            await post(relay.url, messenger_text(PAGE, "U1", "mid.1", "A keni byrek?", now_ms()))
            await eventually(lambda: _stored(db, "mid.1"), timeout=30)
            acked = await _relay_cursor(relay.url, token, device.id)
        finally:
            child.kill()  # SIGKILL: committed, never acknowledged
            await child.wait()
        assert _bubbles(db, "mid.1") == 1

        # Resume from what the relay holds as acknowledged: it sends mid.1 again.
        store = await Store.open(db)
        assert await store.cursor() > acked
        await store.reset_cursor(acked)
        await store.close()
        proxy.drop_upstream = False
        await post(relay.url, messenger_text(PAGE, "U1", "mid.2", "Sa kushton?", now_ms()))
        child = await _start_child(db, proxy.url, token, device.id)
        try:
            await eventually(lambda: _stored(db, "mid.2"), timeout=30)

            async def acknowledged() -> bool:
                return await _relay_cursor(relay.url, token, device.id) > acked

            await eventually(acknowledged, timeout=30)
        finally:
            child.kill()
            await child.wait()
    assert (_bubbles(db, "mid.1"), _bubbles(db, "mid.2")) == (1, 1)


async def _stored(db: Path, mid: str) -> bool:
    return await asyncio.to_thread(_bubbles, db, mid) > 0


if __name__ == "__main__":
    asyncio.run(_child(*sys.argv[1:5]))
