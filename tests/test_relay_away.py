"""The away reply: the relay answers a new conversation once while no device is connected."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from common.events import Customer, MessageReceived, MessageSent, SendFailed
from relay.app import create_app
from relay.ingest import append_events, record
from relay.store import open_store
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, Recorded
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.pg import pg_schema
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up

FakeGraphServer = tuple[FakeGraph, ServedApp]
DAY_MS = 24 * 3600 * 1000
EN = "Thanks! We are away and will answer soon."
SQ = "Faleminderit! Nuk jemi këtu tani, do t'ju përgjigjemi së shpejti."
MESSAGES: dict[str, object] = {"default_language": "en", "messages": {"en": EN, "sq": SQ}}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _relay(tmp_path: Path, graph: ServedApp, **overrides: object) -> Any:
    settings = relay_settings(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", **overrides)
    settings = dataclasses.replace(settings, graph_base_url=f"{graph.url}/{GRAPH_VERSION}")
    return serve_app(AppFactory(lambda url: create_app(settings)))


@pytest.fixture
def relay(tmp_path: Path, fake_graph: FakeGraphServer) -> Iterator[ServedApp]:
    with _relay(tmp_path, fake_graph[1]) as served:
        yield served


def _shop(base_url: str, *, enabled: bool = True, minutes: int = 0) -> tuple[Account, str]:
    """A shop with a Messenger channel, its away texts and the channel's switch."""
    account = sign_up(base_url)
    channel = account.connect(
        platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN, name="Kafe"
    )
    with account.client() as c:
        assert c.put("/v1/away/messages", json=MESSAGES).status_code == 200
        r = c.put(
            f"/v1/away/channels/{channel['id']}", json={"enabled": enabled, "minutes": minutes}
        )
        assert r.status_code == 200, r.text
    return account, channel["id"]


def _outcome(outcome: str) -> float:
    return REGISTRY.get_sample_value("clientora_away_replies_total", {"outcome": outcome}) or 0.0


async def _wait_outcome(outcome: str, before: float, count: int = 1) -> None:
    """Wait until the away check recorded ``outcome`` ``count`` more times."""
    for _ in range(500):
        if _outcome(outcome) >= before + count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the away check never recorded {outcome!r}")


def _texts(fake: FakeGraph) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]


def _wrote(
    base_url: str, text: str, psid: str = "PSID1", mid: str = "m-1", ago_ms: int = 0
) -> None:
    r = post_meta(base_url, messenger_text("PAGE1", psid, mid, text, _now_ms() - ago_ms))
    assert r.status_code == 200, r.text


async def test_a_new_conversation_gets_one_away_reply_in_its_language(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """No device connected: one reply, in Albanian, marked server-sent, seen on reconnect."""
    fake, _ = fake_graph
    account, _ = _shop(relay.url)
    before, later = _outcome("sent"), _outcome("not_new")
    _wrote(relay.url, "Përshëndetje, a jeni hapur sot? Faleminderit", mid="m-1")
    await _wait_outcome("sent", before)
    _wrote(relay.url, "A keni edhe dërgesa?", mid="m-2")
    await _wait_outcome("not_new", later)
    (request,) = _texts(fake)
    assert request.json["message"]["text"] == SQ
    async with open_stream(account) as stream:
        frames = await stream.events(4)  # the channel's connection, then the thread
    first, reply, second = (f.event for f in frames[1:])
    assert isinstance(first, MessageReceived) and isinstance(second, MessageReceived)
    assert isinstance(reply, MessageSent)
    assert reply.sent_by == "server" and reply.automatic and reply.reply_to is None, reply
    assert reply.text == SQ and reply.customer.id == "PSID1"


async def test_an_unclear_language_gets_the_default_text(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """A message that marks no language is answered in the shop's default language."""
    fake, _ = fake_graph
    _shop(relay.url)
    before = _outcome("sent")
    _wrote(relay.url, "👍 ok")
    await _wait_outcome("sent", before)
    (request,) = _texts(fake)
    assert request.json["message"]["text"] == EN


async def test_no_away_reply_while_a_device_is_connected_or_was_just_seen(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """A connected device, or one seen less than N minutes ago, means the shop is there."""
    fake, _ = fake_graph
    account, _ = _shop(relay.url, minutes=10)
    before = _outcome("present")
    async with open_stream(account):
        _wrote(relay.url, "Hello, are you open?", mid="m-1")
        await _wait_outcome("present", before)
    _wrote(relay.url, "Hello, are you open today?", psid="PSID2", mid="m-2")
    await _wait_outcome("present", before, 2)
    assert _texts(fake) == []


async def test_a_switched_off_channel_gets_no_away_reply(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Off (the default, or switched off) means the relay never answers for the shop."""
    fake, _ = fake_graph
    account, channel_id = _shop(relay.url, enabled=False)
    before = _outcome("off")
    _wrote(relay.url, "Hello?")
    await _wait_outcome("off", before)
    assert _texts(fake) == []
    with account.client() as c:
        settings = c.get("/v1/away").json()
    assert settings["channels"][channel_id] == {"enabled": False, "minutes": 0}
    assert settings["messages"] == MESSAGES


async def test_a_closed_window_is_not_answered_and_says_why(
    relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """A message older than the automatic-reply window: no send, a SendFailed in the thread."""
    fake, _ = fake_graph
    account, _ = _shop(relay.url)
    before = _outcome("window_closed")
    _wrote(relay.url, "Hello?", ago_ms=2 * DAY_MS)
    await _wait_outcome("window_closed", before)
    assert _texts(fake) == []
    async with open_stream(account) as stream:
        _, _, failed = (f.event for f in await stream.events(3))
    assert isinstance(failed, SendFailed) and failed.error == "window_closed"


async def test_a_used_up_quota_is_not_passed(tmp_path: Path, fake_graph: FakeGraphServer) -> None:
    """With the plan's messages used up, the away reply is refused like any send."""
    fake, graph = fake_graph
    plans = json.dumps({"one": {"outbound_messages": 1}})
    with _relay(tmp_path, graph, plans=plans, default_plan="one") as relay:
        _shop(relay.url)
        sent, refused = _outcome("sent"), _outcome("quota_exceeded")
        _wrote(relay.url, "Hello?", psid="PSID1", mid="m-1")
        await _wait_outcome("sent", sent)
        _wrote(relay.url, "Hello?", psid="PSID2", mid="m-2")
        await _wait_outcome("quota_exceeded", refused)
    assert len(_texts(fake)) == 1


def test_a_channel_of_another_business_cannot_be_switched(relay: ServedApp) -> None:
    """The switch is scoped by business: someone else's channel is unknown."""
    _, channel_id = _shop(relay.url)
    other = sign_up(relay.url)
    with other.client() as c:
        r = c.put(f"/v1/away/channels/{channel_id}", json={"enabled": True, "minutes": 5})
        bad = c.put("/v1/away/channels/x", json={"enabled": True, "minutes": -1})
    assert r.status_code == 404 and bad.status_code == 400


async def test_two_relays_on_postgres_answer_once(
    tmp_path: Path, fake_graph: FakeGraphServer
) -> None:
    """The same webhook delivered to two relay processes at once gets one away reply."""
    fake, graph = fake_graph
    async with pg_schema() as dsn:
        with ExitStack() as stack:
            a = stack.enter_context(_relay(tmp_path / "a", graph, database_url=dsn))
            _shop(a.url)
            # B starts knowing the switch (a running process learns it within seconds).
            b = stack.enter_context(_relay(tmp_path / "b", graph, database_url=dsn))
            before, later = _outcome("sent"), _outcome("not_new")
            body = json.dumps(messenger_text("PAGE1", "PSID1", "m-1", "Hello?", _now_ms()))
            with ThreadPoolExecutor(4) as pool:
                answers = list(
                    pool.map(lambda url: post_meta(url, body.encode()), [a.url, b.url] * 2)
                )
            assert all(r.status_code == 200 for r in answers)
            await _wait_outcome("sent", before)
            _wrote(b.url, "Still there?", mid="m-2")
            await _wait_outcome("not_new", later)
    assert len(_texts(fake)) == 1


async def test_a_web_chat_visitor_gets_the_away_reply_in_their_history(relay: ServedApp) -> None:
    """Web chat too: the away reply is stored, which is how a visitor's page receives it."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Website")
    with account.client() as c:
        assert c.put("/v1/away/messages", json=MESSAGES).status_code == 200
        switch = {"enabled": True, "minutes": 0}
        assert c.put(f"/v1/away/channels/{channel['id']}", json=switch).status_code == 200
    base = f"{relay.url}/webchat/{channel['id']}/messages"
    before = _outcome("sent")
    r = httpx.post(base, json={"visitor_id": "visitor-0123456789", "text": "Hello, are you open?"})
    assert r.status_code == 202
    await _wait_outcome("sent", before)
    history = httpx.get(base, params={"visitor_id": "visitor-0123456789"}).json()
    assert [line["text"] for line in history] == ["Hello, are you open?", EN]


def test_disconnecting_a_channel_forgets_its_switch(relay: ServedApp) -> None:
    """A channel's away switch goes with the channel."""
    account, channel_id = _shop(relay.url)
    with account.client() as c:
        assert channel_id in c.get("/v1/away").json()["channels"]
        assert c.delete(f"/v1/channels/{channel_id}").status_code in (200, 204)
        assert c.get("/v1/away").json()["channels"] == {}


async def test_a_message_left_unchecked_by_a_dead_process_is_answered_by_the_sweep(
    tmp_path: Path, fake_graph: FakeGraphServer
) -> None:
    """A relay that died between its 200 and the away check owes the customer nothing:
    the next process's sweep answers, once, judging presence as of the message's arrival;
    a restart sweeps again and sends nothing twice."""
    fake, graph = fake_graph
    with _relay(tmp_path, graph, away_sweep_s=0) as a:
        account, channel_id = _shop(a.url)
        async with open_stream(account):
            pass  # a device was here: the presence row's last sighting
    database_url = f"sqlite:///{tmp_path / 'relay.db'}"
    # What the dead process stored before it could run the check: two new conversations.
    store = await open_store(database_url)
    try:
        await append_events(
            store,
            [
                record(
                    account.business_id,
                    MessageReceived(
                        channel_id=channel_id,
                        platform="messenger",
                        customer=Customer(id=psid),
                        timestamp_ms=_now_ms(),
                        platform_id=f"m-{psid}",
                        text=text,
                    ),
                )
                for psid, text in (("PSID1", "A jeni hapur sot?"), ("PSID2", "Hello?"))
            ],
        )
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "relay.db") as db:
        # The device was last seen a minute ago; PSID1 wrote after that (nobody saw it),
        # PSID2 before it (the device received it: no away reply owed).
        db.execute("UPDATE device_presence SET seen_ms = seen_ms - 60000")
        db.execute(
            "UPDATE events SET stored_at_ms = stored_at_ms - 30000 WHERE customer_id = 'PSID1'"
        )
        db.execute(
            "UPDATE events SET stored_at_ms = stored_at_ms - 90000 WHERE customer_id = 'PSID2'"
        )
    sent, present = _outcome("sent"), _outcome("present")
    with _relay(tmp_path, graph, away_sweep_s=0.05):
        await _wait_outcome("sent", sent)
        await _wait_outcome("present", present)
    (request,) = _texts(fake)
    assert request.json["recipient"]["id"] == "PSID1" and request.json["message"]["text"] == SQ
    # A restart's first sweep looks back again: PSID2 is judged again, PSID1 is answered.
    with _relay(tmp_path, graph, away_sweep_s=0.05):
        await _wait_outcome("present", present, count=2)
    assert len(_texts(fake)) == 1
