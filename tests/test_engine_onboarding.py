"""Connect with Facebook and channel health from the desktop engine, against the real relay
and the fake Graph: the same calls the app's button, picker and channel cards make."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from desktop.core.engine import Engine, EngineError
from tests.engine_helpers import open_engine, wait_for
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.meta_helpers import (
    IG_ID,
    KAFE_PAGE,
    PHONE_ID,
    RelayHandle,
    graph,
    kafe_owner,
    relay,
)
from tests.relay_helpers import messenger_text, post_meta

__all__ = ["graph", "relay"]  # fixtures

FakeGraphServer = tuple[FakeGraph, ServedApp]


@pytest.fixture
async def engine(tmp_path: Path, relay: RelayHandle) -> AsyncIterator[Engine]:
    """A desktop engine signed up to the relay, with no channel yet."""
    engine = await open_engine(tmp_path / "desktop", relay.url, connect_page=False)
    try:
        yield engine
    finally:
        await engine.close()


async def _browser(login_url: str) -> httpx.Response:
    """The system browser: it follows Meta's redirect back to the relay on its own."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
        return await browser.get(login_url)


async def test_connect_with_facebook_from_the_engine_to_a_working_channel(
    engine: Engine, relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Button -> browser -> picker -> channels in the local store -> a signed webhook on the
    new Page becomes a conversation in the app."""
    started = await engine.channels.start_meta_login()
    page = await _browser(started.login_url)
    assert page.status_code == 200 and "return to Clientora" in page.text
    state = await engine.channels.wait_meta_assets(started.login_id, interval_s=0.05)
    assert state.status == "ready"
    by_platform = {a.platform: a for a in state.assets}
    assert by_platform["instagram"].external_id == IG_ID
    assert by_platform["whatsapp"].external_id == PHONE_ID
    infos = await engine.channels.connect_meta_assets(
        started.login_id, [by_platform["messenger"].id, by_platform["whatsapp"].id]
    )
    assert sorted(i.platform for i in infos) == ["messenger", "whatsapp"]
    local = {c.platform: c for c in await engine.store.channels()}
    assert local["messenger"].id == next(i.id for i in infos if i.platform == "messenger")

    now = time.time_ns() // 1_000_000
    webhook = messenger_text(KAFE_PAGE, "PSID-77", "m-77", "A keni tavolinë për dy?", now)
    assert post_meta(relay.url, webhook).status_code == 200

    async def conversation_arrived() -> bool:
        conversations = await engine.store.list_conversations()
        return any(c.channel_id == local["messenger"].id for c in conversations)

    await wait_for(conversation_arrived)
    health = await engine.channels.channel_health(local["messenger"].id)
    assert health.actions == [] and health.last_event_at_ms is not None


async def test_a_cancelled_login_is_a_plain_words_error(
    engine: Engine, graph: FakeGraphServer
) -> None:
    """The owner closes Meta's dialog: the engine says so, and nothing was connected."""
    graph[0].meta.sign_in(kafe_owner(decision="cancel"))  # type: ignore[union-attr]
    started = await engine.channels.start_meta_login()
    await _browser(started.login_url)
    with pytest.raises(EngineError, match="cancelled"):
        await engine.channels.wait_meta_assets(started.login_id, interval_s=0.05)
    assert await engine.store.channels() == []


async def test_a_login_never_finished_in_the_browser_times_out(engine: Engine) -> None:
    """Nobody comes back from the browser: waiting ends with a plain-words error."""
    started = await engine.channels.start_meta_login()
    assert (await engine.channels.meta_assets(started.login_id)).status == "pending"
    with pytest.raises(EngineError, match="not finished in the browser"):
        await engine.channels.wait_meta_assets(started.login_id, timeout_s=0, interval_s=0)


async def test_picking_a_page_not_offered_is_refused(engine: Engine) -> None:
    """A pick the login did not grant: EngineError, and no channel appears."""
    started = await engine.channels.start_meta_login()
    await _browser(started.login_url)
    await engine.channels.wait_meta_assets(started.login_id, interval_s=0.05)
    with pytest.raises(EngineError, match="do not manage"):
        await engine.channels.connect_meta_assets(started.login_id, ["messenger:31337"])
    assert await engine.store.channels() == []


async def test_the_engine_checks_and_resubscribes_a_channel(
    engine: Engine, graph: FakeGraphServer
) -> None:
    """A lost subscription: check_channel reports it with the fix, resubscribe repairs it,
    and the local channel list follows."""
    fake, _ = graph
    started = await engine.channels.start_meta_login()
    await _browser(started.login_url)
    await engine.channels.wait_meta_assets(started.login_id, interval_s=0.05)
    (info,) = await engine.channels.connect_meta_assets(
        started.login_id, [f"messenger:{KAFE_PAGE}"]
    )
    fake.meta.drop_subscription(KAFE_PAGE)  # type: ignore[union-attr]
    checked = await engine.channels.check_channel(info.id)
    assert checked.status == "webhook_failing" and checked.actions == ["resubscribe"]
    assert next(c for c in checked.checks if c.name == "subscription").action == "resubscribe"
    assert (await engine.store.channels())[0].status == "webhook_failing"
    repaired = await engine.channels.resubscribe(info.id)
    assert repaired.status == "healthy" and repaired.actions == []
    assert (await engine.store.channels())[0].status == "healthy"
