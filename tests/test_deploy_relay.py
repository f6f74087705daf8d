"""The relay as deployed: several processes on PostgreSQL, readiness, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets

from common.events import MessageReceived
from common.protocol import EventFrame
from tests.bench._relay_proc import (
    PAGE_ID,
    REPO_ROOT,
    ServerProcess,
    _child_env,
    relay_process,
    signed_up_with_page,
)
from tests.pg import pg_schema
from tests.relay_helpers import APP_SECRET, Account, StreamClient, messenger_text, open_stream


def _post_webhook(base_url: str, mid: str) -> None:
    from relay.webhooks.signatures import sign_meta

    body = json.dumps(messenger_text(PAGE_ID, "customer-1", mid, f"order {mid}")).encode()
    response = httpx.post(
        f"{base_url}/webhooks/meta",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign_meta(body, APP_SECRET),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_workers_are_refused_on_sqlite_with_a_clear_message(tmp_path: Path) -> None:
    """``serve --workers 2`` on SQLite exits at once and says that PostgreSQL is needed."""
    env = _child_env({"CLIENTORA_RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'relay.db'}"})
    done = subprocess.run(
        [sys.executable, "-m", "relay.cli", "serve", "--workers", "2"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr
    assert not (tmp_path / "relay.db").exists()


async def _close_code(stream: StreamClient) -> int:
    """Read frames until the relay closes the stream; its close code."""
    while True:
        try:
            await stream.frame(timeout=60)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006


async def _eventually_served(url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(100):
            if (await http.get(url)).status_code == 200:
                return
            await asyncio.sleep(0.1)
        assert (await http.get(url)).status_code == 200


async def _messages(stream_frames: list[EventFrame]) -> list[str]:
    return [
        f.event.platform_id
        for f in stream_frames
        if isinstance(f.event, MessageReceived) and f.event.platform_id
    ]


async def _read_until(
    account: Account, cursor: int, want: set[str], frames: list[EventFrame]
) -> int | None:
    """Stream from ``cursor`` until every mid in ``want`` came; ack as a device does.
    Returns the close code if the relay closed the stream first."""
    async with open_stream(account, cursor=cursor) as stream:
        try:
            while not want <= set(await _messages(frames)):
                frame = await stream.frame(timeout=30)
                if isinstance(frame, EventFrame):
                    frames.append(frame)
                    await stream.ack(frame.seq)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006
    return None


@pytest.mark.postgres
async def test_stopping_a_relay_drains_its_streams_and_devices_resume_on_another(
    tmp_path: Path,
) -> None:
    """Two worker processes serve one port on PostgreSQL; on SIGTERM they close device
    streams with 1012 and end web-chat streams cleanly, exit 0, and a device resumes from
    its cursor on another relay process with every event once and in order."""
    async with pg_schema() as dsn:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = relay_process(tmp_path / "a", database_url=dsn, workers="2")
        second = relay_process(tmp_path / "b", database_url=dsn)
        await asyncio.to_thread(first.start)
        try:
            await asyncio.to_thread(second.start)
            account = await asyncio.to_thread(signed_up_with_page, first.url)
            webchat = await asyncio.to_thread(account.connect, platform="webchat", name="Site")
            frames: list[EventFrame] = []
            before = {f"before.{n}" for n in range(5)}
            for mid in sorted(before):
                await asyncio.to_thread(_post_webhook, first.url, mid)
            assert await _read_until(account, 0, before, frames) is None

            # A live device stream and a live web-chat stream on the first relay, then SIGTERM.
            async with (
                open_stream(account, cursor=frames[-1].seq) as live,
                httpx.AsyncClient(base_url=first.url, timeout=60) as http,
                http.stream(
                    "GET", f"/webchat/{webchat['id']}/events", params={"visitor_id": "visitor-0001"}
                ) as sse,
            ):
                assert sse.status_code == 200
                chunks = sse.aiter_bytes()
                assert (await anext(chunks)).startswith(b"retry:")
                stopped = asyncio.create_task(asyncio.to_thread(first.stop, 60.0))
                assert await _close_code(live) == 1012  # service restart: come back
                rest = [chunk async for chunk in chunks]  # ends cleanly, not cut off
                assert all(b"data:" not in chunk for chunk in rest)
                assert await stopped == 0

            # The second process learns of channels connected through the first one.
            await _eventually_served(f"{second.url}/webchat/{webchat['id']}")
            after = {f"after.{n}" for n in range(5)}
            for mid in sorted(after):
                await asyncio.to_thread(_post_webhook, second.url, mid)
            account.base_url = second.url
            assert await _read_until(account, frames[-1].seq, after, frames) is None
            seqs = [f.seq for f in frames]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat
            assert sorted(await _messages(frames)) == sorted(before | after)
        finally:
            first.stop()
            second.stop()


class _Forwarder:
    """A TCP forwarder in front of PostgreSQL that the test can cut and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def start(self) -> None:
        self.thread.start()
        self._call(self._open())

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._open())

    def refuse_new(self) -> None:
        """Turn new connections away; those open go on."""
        self._call(self._refuse())

    async def _refuse(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def close(self) -> None:
        self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def _forwarded(dsn: str) -> Iterator[tuple[_Forwarder, str]]:
    url = httpx.URL(dsn)
    forwarder = _Forwarder((url.host, url.port or 5432))
    forwarder.start()
    try:
        yield forwarder, str(url.copy_with(host="127.0.0.1", port=forwarder.port))
    finally:
        forwarder.close()


async def _ready(relay: ServerProcess) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{relay.url}/readyz")
    body = response.json()
    return response.status_code, body.get("status") or body["error"]["code"]


async def _eventually(relay: ServerProcess, want: tuple[int, str]) -> None:
    for _ in range(300):
        if await _ready(relay) == want:
            return
        await asyncio.sleep(0.1)
    assert await _ready(relay) == want


@pytest.mark.postgres
async def test_readiness_follows_the_database(tmp_path: Path) -> None:
    """``/readyz`` answers 503 ``not_ready`` while PostgreSQL cannot be reached (liveness
    stays 200) and ready again once it is back, without a restart."""
    async with pg_schema() as dsn:
        with _forwarded(dsn) as (forwarder, via):
            relay = relay_process(tmp_path, database_url=via)
            await asyncio.to_thread(relay.start)
            try:
                assert await _ready(relay) == (200, "ready")
                forwarder.cut()
                await _eventually(relay, (503, "not_ready"))
                async with httpx.AsyncClient(timeout=30) as http:
                    assert (await http.get(f"{relay.url}/healthz")).status_code == 200
                forwarder.restore()
                await _eventually(relay, (200, "ready"))
            finally:
                relay.stop()


@pytest.mark.postgres
async def test_readiness_needs_the_listen_connection(tmp_path: Path) -> None:
    """A process whose LISTEN connection is gone would hear of other processes' webhooks
    only at each heartbeat: ``/readyz`` answers 503 ``not_listening`` until it listens
    again (the pool's connections still answer queries meanwhile)."""
    async with pg_schema() as dsn:
        name = f"clientora-listen-{secrets.token_hex(4)}"
        with _forwarded(f"{dsn}&application_name={name}") as (forwarder, via):
            relay = relay_process(tmp_path, database_url=via)
            await asyncio.to_thread(relay.start)
            try:
                assert await _ready(relay) == (200, "ready")
                forwarder.refuse_new()
                admin = await asyncpg.connect(dsn)
                try:
                    killed = await admin.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                        name,
                    )
                finally:
                    await admin.close()
                assert killed == 1
                await _eventually(relay, (503, "not_listening"))
                forwarder.restore()
                await _eventually(relay, (200, "ready"))
            finally:
                relay.stop()


def _workers(pid: int) -> set[int]:
    """The supervisor's worker processes (spawned children; its resource tracker aside)."""
    found = set()
    for child in map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split()):
        with contextlib.suppress(FileNotFoundError):
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text():
                found.add(child)
    return found


@pytest.mark.postgres
async def test_a_worker_that_dies_is_started_again(tmp_path: Path) -> None:
    """SIGKILL one of two workers: the supervisor starts a new one, the port keeps serving."""
    async with pg_schema() as dsn:
        relay = relay_process(tmp_path, database_url=dsn, workers="2")
        await asyncio.to_thread(relay.start)
        try:

            def both_up() -> bool:
                return len(_workers(relay.pid)) == 2

            for _ in range(300):
                if both_up():
                    break
                await asyncio.sleep(0.1)
            before = _workers(relay.pid)
            assert len(before) == 2
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            for _ in range(300):
                now = _workers(relay.pid)
                if len(now) == 2 and victim not in now:
                    break
                await asyncio.sleep(0.1)
            assert len(now) == 2 and victim not in now
            assert await _ready(relay) == (200, "ready")
        finally:
            assert relay.stop() == 0
