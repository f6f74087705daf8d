"""The away reply end to end: the desktop's switch and texts reach the relay, which answers
while the desktop is off; the desktop shows that reply as the server's when it is back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from common.away import AwayChannel
from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.engine import Engine
from desktop.core.services.away import away_messages
from tests.engine_helpers import open_engine, wait_for
from tests.fakes.graph import FakeGraph, Recorded
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text, post_meta

FakeGraphServer = tuple[FakeGraph, ServedApp]


def _texts(fake: FakeGraph) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]


async def test_the_relay_answers_for_a_closed_desktop_which_then_shows_it(
    tmp_path: Path, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Switch on -> synced; desktop off -> one Albanian away reply; back on -> marked server."""
    fake, _ = fake_graph
    folder = tmp_path / "desktop"
    engine = await open_engine(folder, relay.url)
    try:
        channels = await engine.store.channels()
        channel_id = next(c.id for c in channels if c.platform == "messenger")
        assert channel_id not in engine.channels.away  # off by default
        # Minutes 0 stand in for the default ten, so the test need not wait.
        switch = AwayChannel(enabled=True, minutes=0)
        await engine.channels.set_away(channel_id, switch)

        async def synced() -> bool:
            state = await engine.client.away()
            return state.channels.get(channel_id) == switch and state.connected

        await wait_for(synced)
        state = await engine.client.away()
        assert state.messages == away_messages(engine.settings)
        sq = state.messages.messages["sq"]
        headers = {"Authorization": f"Bearer {engine.client.token}"}
    finally:
        await engine.close()

    async def gone() -> bool:
        async with httpx.AsyncClient(base_url=relay.url, headers=headers) as http:
            return not (await http.get("/v1/away")).json()["connected"]

    await wait_for(gone)
    now = time.time_ns() // 1_000_000
    text = "Përshëndetje, a e keni këtë në të zezë?"
    assert post_meta(relay.url, messenger_text("PAGE1", "PSID9", "m-9", text, now)).is_success
    await wait_for(lambda: len(_texts(fake)) == 1)
    assert _texts(fake)[0].json["message"]["text"] == sq

    back = await Engine.open(folder, credentials=EncryptedFileCredentials(folder / "secrets"))
    try:
        await back.start()

        async def shown() -> bool:
            conversations = await back.store.list_conversations()
            if not conversations:
                return False
            messages = await back.store.messages(conversations[0].id)
            return [m.author for m in messages] == ["customer", "server"]

        await wait_for(shown)
    finally:
        await back.close()
