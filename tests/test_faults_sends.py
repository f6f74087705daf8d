"""A relay process SIGKILLed while the desktop's outbox sends a burst of replies through it.

The fake Graph takes one reply in and never answers it (the platform got it; the relay
dies before it learns so), the test SIGKILLs the relay at that moment and restarts it on
the same database. That reply's claim stays "pending" at the relay until its lease runs
out; the outbox must send every later reply meanwhile, then surface the held one as
``outcome_unknown`` (never sent again on its own). Every reply reaches Graph exactly once
or is shown to the owner as unknown: none twice, none silently lost. A reply the platform
keeps failing holds back only its own conversation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop.core.outbox import Outbox
from desktop.core.relay_client import Backoff
from desktop.core.store import Message
from tests.bench._relay_proc import ServerProcess, relay_process
from tests.conftest import PAGE_TOKEN
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, graph_error
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import messenger_text
from tests.test_desktop_sync import PAGE, desk, eventually, now_ms, post, relay_on

CUSTOMERS = 6
REPLIES_EACH = 3  # replies per customer, queued in turns: 18 in all
HELD = "reply 1 to U2"  # the reply in flight when the relay is killed

Scope = dict[str, Any]


class HoldOneSend:
    """ASGI wrapper around the fake Graph: the send whose text is ``text`` is delivered
    (Graph records it) but its answer is withheld until the caller hangs up; later sends
    of the same text are answered."""

    def __init__(self, app: Any, text: str) -> None:
        self.app, self.text = app, text
        self.arrived = threading.Event()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/messages"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        text = json.loads(body or b"{}").get("message", {}).get("text")
        held = text == self.text and not self.arrived.is_set()  # only its first send

        async def replay() -> Any:
            return {"type": "http.request", "body": body, "more_body": False}

        answer: list[Any] = []

        async def keep(message: Any) -> None:
            answer.append(message)

        await self.app(scope, replay, keep if held else send)
        if not held:
            return
        self.arrived.set()
        while (await receive())["type"] != "http.disconnect":
            pass  # the relay is gone: the answer never leaves


@contextlib.contextmanager
def graph_holding(text: str) -> Iterator[tuple[FakeGraph, HoldOneSend, str]]:
    fake = FakeGraph({PAGE_TOKEN})
    gate = HoldOneSend(fake.app, text)
    with serve_app(gate) as served:
        yield fake, gate, f"{served.url}/{GRAPH_VERSION}"


def delivered(fake: FakeGraph) -> collections.Counter[str]:
    return collections.Counter(
        r.json["message"]["text"] for r in fake.requests if r.path.endswith("/messages")
    )


def expire_leases(workdir: Path) -> int:
    """Stand in for the lease's minutes passing: end every pending claim's lease now."""
    with sqlite3.connect(workdir / "relay.db") as db:
        changed = db.execute("UPDATE sends SET lease_until_ms = 1 WHERE state = 'pending'").rowcount
    db.close()
    return changed


async def test_relay_killed_mid_send_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with graph_holding(HELD) as (fake, gate, graph_url):
        relay = relay_process(tmp_path, graph_base_url=graph_url)
        await asyncio.to_thread(relay.start)
        try:
            await _burst_through_a_crash(tmp_path, relay, fake, gate)
        finally:
            await asyncio.to_thread(relay.stop)


async def _burst_through_a_crash(
    workdir: Path, relay: ServerProcess, fake: FakeGraph, gate: HoldOneSend
) -> None:
    async with desk(relay.url, workdir) as d:
        d.sync.start()
        customers = [f"U{n}" for n in range(1, CUSTOMERS + 1)]
        for n, customer in enumerate(customers):
            await post(relay.url, messenger_text(PAGE, customer, f"mid.{n}", "Hello?", now_ms()))

        async def conversations() -> dict[str, int] | None:
            found = {c.customer.platform_id: c.id for c in await d.store.list_conversations()}
            return found if len(found) == CUSTOMERS else None

        by_customer = await eventually(conversations)
        outbox = Outbox(d.store, d.client, backoff=Backoff(initial_s=0.05, cap_s=0.5))
        queued: dict[str, Message] = {}
        for turn in range(REPLIES_EACH):
            for customer in customers:
                text = f"reply {turn} to {customer}"
                queued[text] = await outbox.send(by_customer[customer], text)
        try:
            outbox.start()
            await asyncio.to_thread(gate.arrived.wait, 30)
            assert gate.arrived.is_set(), "the held reply never reached Graph"
            await asyncio.to_thread(relay.kill)  # mid-send: its claim stays pending
            await asyncio.to_thread(relay.start)  # same database, a new port
            d.client.base_url = relay.url
            outbox.wake()

            async def others_sent() -> bool:
                for text, message in queued.items():
                    now = await d.store.message(message.id)
                    assert now is not None
                    if text != HELD and now.status != "sent":
                        return False
                return True

            # The held reply's claim is pending for minutes: the rest must not wait on it.
            await eventually(others_sent, timeout=30)
            held = await d.store.message(queued[HELD].id)
            assert held is not None and held.status in ("queued", "sending")

            assert expire_leases(workdir) == 1
            outbox.wake()

            async def surfaced() -> Message | None:
                message = await d.store.message(queued[HELD].id)
                return message if message is not None and message.status == "failed" else None

            unknown = await eventually(surfaced, timeout=30)
            assert unknown.error_code == "outcome_unknown"
            assert "may or may not have reached the customer" in (unknown.error_message or "")
        finally:
            await outbox.stop()

        counts = delivered(fake)
        figures = {
            "sent": len(queued),
            "delivered": sum(1 for t in queued if counts[t] == 1),
            "unknown": 1,
            "duplicated": sum(1 for t in queued if counts[t] > 1),
        }
        print(json.dumps({"test": "relay_killed_mid_send", **figures}))
        assert set(counts) == set(queued)  # nothing else reached Graph
        assert figures["duplicated"] == 0
        assert figures["delivered"] == len(queued)  # the held one got there once, too

        # The owner decides: a retry sends it again under a new key (the customer may now
        # read it twice, which is why it is theirs to choose).
        await outbox.retry(unknown.id)
        outbox.start()
        try:
            await eventually(lambda: _status_is(d.store, unknown.id, "sent"), timeout=30)
        finally:
            await outbox.stop()
        assert delivered(fake)[HELD] == 2


async def _status_is(store: Any, message_id: int, status: str) -> bool:
    message = await store.message(message_id)
    return message is not None and message.status == status


async def test_a_failing_reply_holds_only_its_own_conversation(
    tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """While the platform fails one customer's reply (``platform_error``, retried), the
    other customers' replies go out; that customer's later reply waits, then follows in
    order."""
    graph, graph_server = fake_graph
    with relay_on(tmp_path, graph_server, send_attempts=1) as served:
        async with desk(served.url, tmp_path) as d:
            d.sync.start()
            for customer in ("U1", "U2"):
                await post(
                    served.url, messenger_text(PAGE, customer, f"mid.{customer}", "Hi", now_ms())
                )

            async def conversations() -> dict[str, int] | None:
                found = {c.customer.platform_id: c.id for c in await d.store.list_conversations()}
                return found if len(found) == 2 else None

            by_customer = await eventually(conversations)
            graph.fail_recipient("U1", graph_error(2, "Please retry later."), status=500)
            outbox = Outbox(
                d.store,
                d.client,
                backoff=Backoff(initial_s=0.05, cap_s=0.2),
                platform_error_attempts=1000,  # keep it retrying for this test
            )
            first = await outbox.send(by_customer["U1"], "first")
            second = await outbox.send(by_customer["U1"], "second")
            other = await outbox.send(by_customer["U2"], "other")
            outbox.start()
            try:
                await eventually(lambda: _status_is(d.store, other.id, "sent"), timeout=30)
                held = await d.store.message(second.id)
                assert held is not None and (held.status, held.attempts) == ("queued", 0)
                assert delivered(graph)["second"] == 0
                graph.reset()  # the platform recovers
                await eventually(lambda: _status_is(d.store, second.id, "sent"), timeout=30)
            finally:
                await outbox.stop()
            assert await _status_is(d.store, first.id, "sent")
            order = [
                r.json["message"]["text"]
                for r in graph.requests
                if r.path.endswith("/messages") and r.json["recipient"]["id"] == "U1"
            ]
            assert order == ["first", "second"]
