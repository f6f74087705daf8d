"""Channel health at the relay: token checks, subscriptions, last event and send, the daily
check (driven by an explicit call), resubscribing, and the events that report each change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.events import ChannelChanged
from common.protocol import EventFrame
from relay.health import flush_activity, run_health_checks
from tests.conftest import PAGE_TOKEN, VIBER_TOKEN
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp, serve_app
from tests.fakes.viber import FakeViber
from tests.meta_helpers import (
    KAFE_PAGE,
    RelayHandle,
    browse,
    graph,
    strict_meta_relay,
)
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up

__all__ = ["graph"]  # fixtures

FakeGraphServer = tuple[FakeGraph, ServedApp]
FakeViberServer = tuple[FakeViber, ServedApp]


@pytest.fixture
def viber() -> Iterator[FakeViberServer]:
    """A fake Viber bot API that knows the test bot."""
    fake = FakeViber({VIBER_TOKEN})
    with serve_app(fake.app) as served:
        yield fake, served


@pytest.fixture
def relay(tmp_path: Path, graph: FakeGraphServer, viber: FakeViberServer) -> Iterator[RelayHandle]:
    """A relay with the Meta app configured, sending to the fake Graph and Viber."""
    with strict_meta_relay(tmp_path, graph, viber[1]) as handle:
        yield handle


def _now() -> int:
    return time.time_ns() // 1_000_000


def _health(account: Account, channel_id: str) -> dict[str, Any]:
    return account.call("GET", f"/v1/channels/{channel_id}/health")


def _check(health: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in health["checks"] if c["name"] == name)
    return found


def _connected_page(relay: RelayHandle) -> tuple[Account, str]:
    """A shop whose Page went through Connect with Facebook."""
    account = sign_up(relay.url)
    with account.client() as c:
        started = c.post("/v1/onboarding/meta", json={"device_id": account.device_id}).json()
        browse(started["login_url"])
        r = c.post(
            f"/v1/onboarding/meta/{started['login_id']}/connect",
            json={"picks": [f"messenger:{KAFE_PAGE}"]},
        )
    assert r.status_code == 201, r.text
    return account, r.json()[0]["id"]


def _send(account: Account, channel_id: str, recipient: str = "PSID-1") -> httpx.Response:
    return account.send(channel_id, recipient_id=recipient, text="Po, jemi hapur.")


async def _statuses(account: Account) -> list[tuple[str, str | None]]:
    """Every channel status the business's devices were told of, in order."""
    async with open_stream(account) as stream:
        frames = [await stream.frame()]
        while getattr(frames[-1], "seq", None) != stream.welcome.head:
            frames.append(await stream.frame())
    return [
        (f.event.status, f.event.detail)
        for f in frames
        if isinstance(f, EventFrame) and isinstance(f.event, ChannelChanged)
    ]


async def test_a_rejected_token_on_send_needs_reconnecting_at_once(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Graph error 190 on a send: the channel turns needs_reconnect, the stream says so, and
    its health names the token with the one fix, reconnect."""
    fake, _ = graph
    account, channel_id = _connected_page(relay)
    assert post_meta(relay.url, messenger_text(KAFE_PAGE, "PSID-1", "m-1", "Hi", _now())).is_success
    fake.meta.revoke("EAAG-kafe-page-token-0001")  # type: ignore[union-attr]
    r = _send(account, channel_id)
    assert r.status_code == 424 and r.json()["error"]["code"] == "token_invalid"
    statuses = await _statuses(account)
    assert [s for s, _ in statuses] == ["connected", "needs_reconnect"]
    health = _health(account, channel_id)
    assert health["status"] == "needs_reconnect"
    assert health["actions"] == ["reconnect"]
    token = _check(health, "token")
    assert token["state"] == "problem" and token["action"] == "reconnect"
    sends = _check(health, "sends")
    assert sends["state"] == "warning" and "token_invalid" in sends["message"]
    assert health["last_send_ok"] is False and health["last_send_error"] == "token_invalid"


async def test_the_daily_check_finds_a_revoked_token(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """The daily run asks debug_token; a token Meta no longer accepts becomes needs_reconnect
    with an event, and only once however often the check runs."""
    fake, _ = graph
    account, channel_id = _connected_page(relay)
    assert await relay.run(run_health_checks) == 1
    assert _health(account, channel_id)["status"] == "connected"
    fake.meta.revoke("EAAG-kafe-page-token-0001")  # type: ignore[union-attr]
    await relay.run(run_health_checks)
    await relay.run(run_health_checks)
    statuses = await _statuses(account)
    assert [s for s, _ in statuses] == ["connected", "needs_reconnect"]
    assert "Reconnect" in (statuses[1][1] or "")
    with account.client() as c:
        assert c.get("/v1/channels").json()[0]["status"] == "needs_reconnect"
    debug = [r for r in fake.requests if r.path.endswith("/debug_token")]
    assert debug[-1].headers["authorization"].startswith("Bearer ")
    assert debug[-1].query["input_token"] == "EAAG-kafe-page-token-0001"


async def test_a_missing_subscription_is_found_and_resubscribing_fixes_it(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Someone removed the app from the Page: the check says webhook_failing with the fix
    resubscribe; resubscribing restores the messaging fields and the channel is healthy."""
    fake, _ = graph
    account, channel_id = _connected_page(relay)
    fake.meta.drop_subscription(KAFE_PAGE)  # type: ignore[union-attr]
    await relay.run(run_health_checks)
    health = _health(account, channel_id)
    assert health["status"] == "webhook_failing" and health["actions"] == ["resubscribe"]
    assert _check(health, "subscription")["action"] == "resubscribe"
    with account.client() as c:
        r = c.post(f"/v1/channels/{channel_id}/resubscribe")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "healthy" and r.json()["actions"] == []
    assert "messages" in (fake.meta.subscribed_fields(KAFE_PAGE) or ())  # type: ignore[union-attr]
    statuses = await _statuses(account)
    assert [s for s, _ in statuses] == ["connected", "webhook_failing", "healthy"]


async def test_last_event_and_last_send_are_noted_and_saved(relay: RelayHandle) -> None:
    """A webhook and a send show in the health at once (memory), and survive a flush."""
    account, channel_id = _connected_page(relay)
    before = _health(account, channel_id)
    assert before["checks"][-2]["state"] == "unknown" and "last_event_at_ms" not in before
    sent_at = _now()
    assert post_meta(
        relay.url, messenger_text(KAFE_PAGE, "PSID-2", "m-2", "Hi", sent_at)
    ).is_success
    assert _send(account, channel_id, "PSID-2").status_code == 200
    health = _health(account, channel_id)
    assert health["last_event_at_ms"] >= sent_at and health["last_send_ok"] is True
    assert _check(health, "events")["state"] == "ok"
    await relay.run(flush_activity)
    assert relay.services.activity.last_event(channel_id) is None  # drained to the store
    saved = _health(account, channel_id)
    assert saved["last_event_at_ms"] == health["last_event_at_ms"]
    assert saved["last_send_at_ms"] == health["last_send_at_ms"]


async def test_check_now_asks_the_platform(relay: RelayHandle, graph: FakeGraphServer) -> None:
    """POST /check runs the token and subscription checks at once and answers the health."""
    fake, _ = graph
    account, channel_id = _connected_page(relay)
    fake.reset()
    with account.client() as c:
        r = c.post(f"/v1/channels/{channel_id}/check")
    assert r.status_code == 200, r.text
    assert _check(r.json(), "token")["state"] == "ok"
    assert _check(r.json(), "subscription")["state"] == "ok"
    assert {req.path.rsplit("/", 1)[-1] for req in fake.requests} == {
        "debug_token",
        "subscribed_apps",
    }


def test_a_pasted_meta_token_graph_refuses_is_not_stored(relay: RelayHandle) -> None:
    """With a Meta app configured, a pasted token is checked first: refused, nothing stored."""
    account = sign_up(relay.url)
    with account.client() as c:
        bad = c.post(
            "/v1/channels",
            json={"platform": "messenger", "page_id": "PAGE9", "access_token": "EAAG-wrong"},
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "token_invalid"
        assert c.get("/v1/channels").json() == []
        good = c.post(
            "/v1/channels",
            json={"platform": "messenger", "page_id": "PAGE1", "access_token": PAGE_TOKEN},
        )
    assert good.status_code == 201, good.text
    assert _check(_health(account, good.json()["id"]), "token")["state"] == "ok"


async def test_viber_health_token_webhook_and_resubscribe(
    relay: RelayHandle, viber: FakeViberServer
) -> None:
    """A Viber bot: token and webhook ok after connecting; a lost webhook is webhook_failing
    and resubscribing registers it again; a revoked token (status 2) needs reconnecting."""
    fake, _ = viber
    account = sign_up(relay.url)
    channel = account.connect(platform="viber", auth_token=VIBER_TOKEN)
    health = _health(account, channel["id"])
    assert health["status"] == "connected"
    assert _check(health, "token")["state"] == "ok"
    assert _check(health, "webhook")["state"] == "ok"
    assert health["avatar_url"] == "https://media.example.com/fakeshop1.jpg"

    fake.drop_webhook(VIBER_TOKEN)
    await relay.run(run_health_checks)
    health = _health(account, channel["id"])
    assert health["status"] == "webhook_failing" and health["actions"] == ["resubscribe"]
    with account.client() as c:
        r = c.post(f"/v1/channels/{channel['id']}/resubscribe")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "healthy"
    assert fake.webhook(VIBER_TOKEN) == channel["webhook_url"]

    fake.revoke(VIBER_TOKEN)
    await relay.run(run_health_checks)
    health = _health(account, channel["id"])
    assert health["status"] == "needs_reconnect" and health["actions"][0] == "reconnect"
    statuses = await _statuses(account)
    assert [s for s, _ in statuses] == [
        "connected",
        "webhook_failing",
        "healthy",
        "needs_reconnect",
    ]
    with account.client() as c:
        r = c.post(f"/v1/channels/{channel['id']}/resubscribe")
    assert r.status_code == 424 and r.json()["error"]["code"] == "token_invalid"


def test_health_is_scoped_to_the_business(relay: RelayHandle) -> None:
    """Another business cannot read, check or resubscribe a channel: 404 each time."""
    _, channel_id = _connected_page(relay)
    stranger = sign_up(relay.url)
    with stranger.client() as c:
        assert c.get(f"/v1/channels/{channel_id}/health").status_code == 404
        assert c.post(f"/v1/channels/{channel_id}/check").status_code == 404
        assert c.post(f"/v1/channels/{channel_id}/resubscribe").status_code == 404


def test_a_viber_token_is_checked_before_anything_is_stored(
    relay: RelayHandle, viber: FakeViberServer
) -> None:
    """A token Viber refuses: a clear error, no channel, no webhook registered; a good one
    shows the bot's name and avatar."""
    fake, _ = viber
    account = sign_up(relay.url)
    with account.client() as c:
        bad = c.post("/v1/channels", json={"platform": "viber", "auth_token": "nope"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "token_invalid"
        assert "Viber does not accept this bot token" in bad.json()["error"]["message"]
        assert c.get("/v1/channels").json() == []
        assert not [r for r in fake.requests if r.path.endswith("set_webhook")]
        good = c.post("/v1/channels", json={"platform": "viber", "auth_token": VIBER_TOKEN})
        assert good.status_code == 201, good.text
        bot = good.json()
        assert bot["name"] == "Fake Shop 1"
        assert bot["avatar_url"] == "https://media.example.com/fakeshop1.jpg"
        assert c.get("/v1/channels").json()[0]["avatar_url"] == bot["avatar_url"]
    assert fake.webhook(VIBER_TOKEN) == bot["webhook_url"]
