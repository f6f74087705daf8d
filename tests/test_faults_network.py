"""The desktop-relay network gone for "minutes" while customers keep writing.

A TCP proxy (asyncio, below) sits between the desktop core and a real relay. Cut, it
drops every connection and turns new ones away at once; restored, it forwards again.

Time is scaled by 60: the desktop's reconnect backoff here is 0.05 s doubling to a cap of
0.5 s, where the app's is 0.5 s doubling to 30 s, so the 3 s cut below stands for 3
minutes of a real outage: the same number of reconnect attempts at the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from desktop.core.relay_client import Backoff
from desktop.core.store import Change, SyncStatusChanged
from desktop.core.sync import wait_for_status
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text
from tests.test_desktop_sync import PAGE, desk, eventually, now_ms, post

CAP_S = 0.5  # the test's backoff cap (the app's 30 s / 60)
CUT_S = 3.0  # "3 minutes" at that scale
MESSAGES = 30  # posted while the network is cut, over 3 customers


class Proxy:
    """Forwards TCP connections to ``target`` until cut; counts the connections it was
    offered so a test can see the desktop trying again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut = False
        self.offered = 0
        self.turned_away = 0
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.drop_upstream = False  # swallow what the client sends (its acks) once set

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.set_cut(True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def set_cut(self, cut: bool) -> None:
        """Cut: drop every open connection and turn new ones away; else forward again."""
        self.cut = cut
        if cut:
            for pipe in list(self._pipes):
                pipe.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.offered += 1
        if self.cut:
            self.turned_away += 1
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            self._pipes.discard(task)
            return
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, upstream=True),
                self._pump(up_reader, writer, upstream=False),
            )
        except (asyncio.CancelledError, OSError):
            pass
        finally:
            self._pipes.discard(task)
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        while data := await reader.read(65536):
            if upstream and self.drop_upstream:
                continue
            writer.write(data)
            await writer.drain()
        writer.transport.abort()  # one side hung up: so does the other


@contextlib.asynccontextmanager
async def proxy_to(served: ServedApp) -> AsyncIterator[Proxy]:
    proxy = Proxy(served.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def test_network_cut_for_minutes_delivers_every_event_once_in_order(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    async with proxy_to(relay) as proxy, desk(relay.url, tmp_path) as d:
        d.client.base_url = proxy.url
        d.sync.backoff = Backoff(initial_s=0.05, cap_s=CAP_S)
        offline: list[SyncStatusChanged] = []

        def watch(changes: Sequence[Change]) -> None:
            offline.extend(
                c for c in changes if isinstance(c, SyncStatusChanged) and c.state == "offline"
            )

        unsubscribe = d.store.changes.subscribe(watch)
        d.sync.start()
        await wait_for_status(d.sync, lambda s: s.state == "live", 15)

        proxy.set_cut(True)
        await wait_for_status(d.sync, lambda s: s.state == "offline", 15)
        expected: dict[str, list[str]] = {f"U{n}": [] for n in range(1, 4)}
        loop = asyncio.get_running_loop()
        cut_until = loop.time() + CUT_S
        for n in range(MESSAGES):
            customer = f"U{n % 3 + 1}"
            mid = f"mid.cut.{n}"
            expected[customer].append(mid)
            await post(relay.url, messenger_text(PAGE, customer, mid, f"message {n}", now_ms()))
        # Keep it cut for the whole window, however fast the posting went.
        await eventually(lambda: _past(loop, cut_until, proxy), timeout=CUT_S + 30)
        attempts_while_cut = proxy.turned_away
        proxy.set_cut(False)

        async def all_arrived() -> dict[str, list[str | None]] | None:
            found: dict[str, list[str | None]] = {}
            for conversation in await d.store.list_conversations():
                messages = await d.store.messages(conversation.id)
                found[conversation.customer.platform_id] = [
                    m.platform_id for m in messages if m.direction == "in"
                ]
            total = sum(len(v) for v in found.values())
            return found if total >= MESSAGES else None

        found = await eventually(all_arrived, timeout=30)
        await wait_for_status(d.sync, lambda s: s.state == "live", 15)
        unsubscribe()

        assert found == expected  # each once, in the order it was posted
        assert attempts_while_cut >= 3  # it kept trying...
        delays = [s.retry_in_s for s in offline if s.retry_in_s is not None]
        assert delays and max(delays) <= CAP_S  # ...never waiting longer than the cap
        print(
            f'{{"test": "network_cut", "scaled_minutes": {CUT_S:.0f}, "posted": {MESSAGES},'
            f' "delivered": {sum(len(v) for v in found.values())}, "lost": 0,'
            f' "duplicated": 0, "reconnect_attempts_while_cut": {attempts_while_cut},'
            f' "max_retry_s": {max(delays):.2f}}}'
        )


async def _past(loop: asyncio.AbstractEventLoop, deadline: float, proxy: Proxy) -> bool:
    return loop.time() >= deadline and proxy.turned_away > 0
