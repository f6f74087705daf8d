"""Connect with Facebook at the relay: login link, Meta's redirect, the picker, all-or-nothing
connecting, reconnecting, and disconnecting that unsubscribes first."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from common.events import ChannelChanged, MessageReceived, MessageSent
from relay.send.graph_admin import PAGE_FIELDS
from tests.fakes.graph import FakeGraph, graph_error
from tests.fakes.server import ServedApp
from tests.meta_helpers import (
    APP_ID,
    CONFIG_ID,
    IG_ID,
    KAFE_PAGE,
    OTHER_PAGE,
    PHONE_ID,
    WABA_ID,
    RelayHandle,
    browse,
    graph,
    kafe_owner,
    meta_relay,
    relay,
)
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up

__all__ = ["graph", "relay"]  # fixtures

FakeGraphServer = tuple[FakeGraph, ServedApp]
PICKS = [f"messenger:{KAFE_PAGE}", f"instagram:{IG_ID}", f"whatsapp:{PHONE_ID}"]


def _start(account: Account) -> dict[str, Any]:
    return account.call("POST", "/v1/onboarding/meta", {"device_id": account.device_id}, expect=201)


def _state(account: Account, login_id: str) -> dict[str, Any]:
    return account.call("GET", f"/v1/onboarding/meta/{login_id}")


def _connect(account: Account, login_id: str, picks: list[str]) -> httpx.Response:
    with account.client() as c:
        return c.post(f"/v1/onboarding/meta/{login_id}/connect", json={"picks": picks})


def _channels(account: Account) -> list[dict[str, Any]]:
    with account.client() as c:
        result: list[dict[str, Any]] = c.get("/v1/channels").json()
    return result


def _logged_in(relay: RelayHandle) -> tuple[Account, str]:
    """A shop that went through the browser part of the login."""
    account = sign_up(relay.url)
    started = _start(account)
    page, _ = browse(started["login_url"])
    assert page.status_code == 200, page.text
    return account, started["login_id"]


def _now() -> int:
    return time.time_ns() // 1_000_000


def _requests(fake: FakeGraph, path_end: str, method: str = "GET") -> list[Any]:
    return [r for r in fake.requests if r.path.endswith(path_end) and r.method == method]


async def test_the_whole_flow_ends_in_channels_that_receive_and_send(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Login link -> Meta's dialog -> callback -> picker -> channels subscribed to their
    webhooks -> a signed webhook arrives on the stream and a reply goes out."""
    fake, _ = graph
    account = sign_up(relay.url)
    started = _start(account)
    assert not fake.meta.visits  # type: ignore[union-attr]  # only the browser opens it
    page, callback = browse(started["login_url"])
    assert page.status_code == 200
    assert "You can return to Clientora" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    (visit,) = fake.meta.visits  # type: ignore[union-attr]
    assert visit.query["client_id"] == APP_ID and visit.query["config_id"] == CONFIG_ID
    assert visit.query["redirect_uri"] == f"{relay.url}/onboarding/meta/callback"
    assert visit.query["response_type"] == "code"
    assert callback is not None and callback.startswith(visit.query["redirect_uri"])

    state = _state(account, started["login_id"])
    assert state["status"] == "ready"
    offered = {a["id"]: a for a in state["assets"]}
    assert sorted(offered) == sorted(PICKS)
    assert offered[f"instagram:{IG_ID}"]["picture_url"] == "https://cdn.example/kafe.jpg"
    assert "+383 44 123 456" in offered[f"whatsapp:{PHONE_ID}"]["detail"]
    assert not any(OTHER_PAGE in a for a in offered)  # no Messaging task there
    assert any("Messaging task" in w for w in state["warnings"])
    with account.client() as c:
        raw = c.get(f"/v1/onboarding/meta/{started['login_id']}").text
    assert "token" not in raw.lower() and "EAAG" not in raw and "EAAU" not in raw

    # The code was exchanged once, with the exact redirect URI, then made long-lived.
    exchanges = _requests(fake, "/oauth/access_token")
    assert [r.query.get("grant_type") for r in exchanges] == [None, "fb_exchange_token"]
    assert exchanges[0].query["redirect_uri"] == visit.query["redirect_uri"]

    r = _connect(account, started["login_id"], PICKS)
    assert r.status_code == 201, r.text
    channels = {c["platform"]: c for c in r.json()}
    assert channels["messenger"]["external_id"] == KAFE_PAGE
    assert channels["instagram"]["avatar_url"] == "https://cdn.example/kafe.jpg"
    assert channels["whatsapp"]["external_id"] == PHONE_ID
    assert fake.meta.subscribed_fields(KAFE_PAGE) == PAGE_FIELDS  # type: ignore[union-attr]
    assert fake.meta.subscribed_fields(WABA_ID) == ()  # type: ignore[union-attr]
    (page_sub,) = _requests(fake, f"/{KAFE_PAGE}/subscribed_apps", "POST")
    assert page_sub.headers["authorization"] == "Bearer EAAG-kafe-page-token-0001"
    assert "message_echoes" in page_sub.json["subscribed_fields"]
    assert _state(account, started["login_id"])["status"] == "connected"

    assert post_meta(
        relay.url, messenger_text(KAFE_PAGE, "PSID-9", "mid-1", "Hapur?", _now())
    ).is_success
    async with open_stream(account) as stream:
        frames = await stream.events(4)
        connected = [f.event for f in frames[:3]]
        assert all(isinstance(e, ChannelChanged) and e.status == "connected" for e in connected)
        message = frames[3].event
        assert isinstance(message, MessageReceived) and message.text == "Hapur?"
        with account.client() as c:
            sent = c.post(
                "/v1/messages",
                json={
                    "channel_id": channels["messenger"]["id"],
                    "recipient_id": "PSID-9",
                    "text": "Po!",
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
        assert sent.status_code == 200, sent.text
        (reply,) = await stream.events(1)
        assert isinstance(reply.event, MessageSent)
    (send,) = _requests(fake, f"/{KAFE_PAGE}/messages", "POST")
    assert send.headers["authorization"] == "Bearer EAAG-kafe-page-token-0001"


def test_a_cancelled_login_says_so_and_connects_nothing(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Meta's access_denied/user_denied redirect: a plain page, the login failed, no channel."""
    graph[0].meta.sign_in(kafe_owner(decision="cancel"))  # type: ignore[union-attr]
    account = sign_up(relay.url)
    started = _start(account)
    page, _ = browse(started["login_url"])
    assert page.status_code == 200
    assert "Nothing was connected" in page.text and "cancelled" in page.text
    state = _state(account, started["login_id"])
    assert state["status"] == "failed" and "cancelled" in state["message"]
    assert not _requests(graph[0], "/oauth/access_token")
    assert _connect(account, started["login_id"], PICKS).status_code == 409
    assert _channels(account) == []


def test_denied_permissions_leave_nothing_and_say_which(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """A login that kept no messaging permission fails, naming what was not allowed."""
    graph[0].meta.sign_in(  # type: ignore[union-attr]
        kafe_owner(scopes=("pages_show_list", "public_profile", "whatsapp_business_management"))
    )
    account = sign_up(relay.url)
    started = _start(account)
    page, _ = browse(started["login_url"])
    assert "Nothing was connected" in page.text
    state = _state(account, started["login_id"])
    assert state["status"] == "failed"
    assert "did not allow Clientora to manage your Pages' messages" in state["message"]
    assert "did not allow Clientora to send WhatsApp messages" in state["message"]
    assert state.get("assets", []) == []


def test_a_partly_denied_login_offers_what_was_allowed(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Without Instagram messaging, the Page and the number are offered, with a warning."""
    scopes = (
        "pages_show_list",
        "pages_manage_metadata",
        "pages_messaging",
        "whatsapp_business_management",
        "whatsapp_business_messaging",
    )
    graph[0].meta.sign_in(kafe_owner(scopes=scopes))  # type: ignore[union-attr]
    account, login_id = _logged_in(relay)
    state = _state(account, login_id)
    assert state["status"] == "ready"
    assert sorted(a["id"] for a in state["assets"]) == [
        f"messenger:{KAFE_PAGE}",
        f"whatsapp:{PHONE_ID}",
    ]
    assert any("Instagram messages" in w for w in state["warnings"])


def test_an_unreadable_account_is_left_out_with_a_warning(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Graph failing on the Instagram and WhatsApp lookups: the Page is still offered and the
    warnings say what could not be read."""
    fake, _ = graph
    for node in (KAFE_PAGE, WABA_ID):
        fake.meta.fail_lookup(  # type: ignore[union-attr]
            node, graph_error(10, "(#10) Requires instagram_basic permission"), 403
        )
    account, login_id = _logged_in(relay)
    state = _state(account, login_id)
    assert state["status"] == "ready"
    assert [a["id"] for a in state["assets"]] == [f"messenger:{KAFE_PAGE}"]
    assert any("Instagram account linked to Kafe Prishtina" in w for w in state["warnings"])
    assert any(WABA_ID in w for w in state["warnings"])


def test_a_page_the_owner_does_not_manage_is_refused(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """A pick that was not granted (another Page, a Page without Messaging) connects nothing."""
    account, login_id = _logged_in(relay)
    for foreign in ("messenger:999999", f"messenger:{OTHER_PAGE}"):
        r = _connect(account, login_id, [f"messenger:{KAFE_PAGE}", foreign])
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "not_managed"
        assert "nothing was connected" in r.json()["error"]["message"]
    assert _channels(account) == []
    assert not _requests(graph[0], "/subscribed_apps", "POST")


def test_an_expired_link_is_refused_and_nothing_is_stored(
    tmp_path: Path, graph: FakeGraphServer
) -> None:
    """A callback after the state expired: a page saying so; no code exchange, no listing."""
    with meta_relay(tmp_path, graph[1], meta_login_ttl_s=0) as relay:
        account = sign_up(relay.url)
        started = _start(account)
        page, _ = browse(started["login_url"])
        assert page.status_code == 400 and "expired" in page.text
        state = _state(account, started["login_id"])
        assert state["status"] == "failed" and "expired" in state["message"]
    assert not _requests(graph[0], "/oauth/access_token")


def test_a_replayed_callback_is_refused(relay: RelayHandle, graph: FakeGraphServer) -> None:
    """The same callback twice: the second is refused, the code is not exchanged again."""
    account = sign_up(relay.url)
    started = _start(account)
    first, callback = browse(started["login_url"])
    assert first.status_code == 200 and callback is not None
    again = httpx.get(callback, timeout=30)
    assert again.status_code == 400 and "already used" in again.text
    assert len(_requests(graph[0], "/oauth/access_token")) == 2  # code + long-lived, once
    assert _state(account, started["login_id"])["status"] == "ready"


def test_an_unknown_or_missing_state_is_refused(relay: RelayHandle) -> None:
    """A callback with a made-up state, or none, changes nothing and says why."""
    made_up = httpx.get(
        f"{relay.url}/onboarding/meta/callback", params={"code": "x", "state": "guess"}
    )
    assert made_up.status_code == 400 and "not known" in made_up.text
    missing = httpx.get(f"{relay.url}/onboarding/meta/callback", params={"code": "x"})
    assert missing.status_code == 400 and "incomplete" in missing.text
    assert "<script" not in made_up.text.lower()


def test_a_failed_subscription_connects_nothing(relay: RelayHandle, graph: FakeGraphServer) -> None:
    """The WhatsApp account refuses the subscription: no channel stays, the Page's
    subscription made in the same call is undone, and the owner is told."""
    fake, _ = graph
    fake.meta.fail_subscription(  # type: ignore[union-attr]
        WABA_ID, graph_error(100, "(#100) Application does not have permission"), 400
    )
    account, login_id = _logged_in(relay)
    r = _connect(account, login_id, PICKS)
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["code"] == "subscription_failed" and "Nothing was connected" in error["message"]
    assert "Kafe Prishtina" in error["message"]
    assert _channels(account) == []
    assert fake.meta.subscribed_fields(KAFE_PAGE) is None  # type: ignore[union-attr]
    assert _state(account, login_id)["status"] == "ready"  # the owner may pick again
    r = _connect(account, login_id, [f"messenger:{KAFE_PAGE}"])
    assert r.status_code == 201, r.text


def test_another_business_cannot_read_or_use_a_login(relay: RelayHandle) -> None:
    """The login belongs to its business: another one gets 404 for reading and connecting."""
    account, login_id = _logged_in(relay)
    stranger = sign_up(relay.url)
    with stranger.client() as c:
        assert c.get(f"/v1/onboarding/meta/{login_id}").status_code == 404
        r = c.post(f"/v1/onboarding/meta/{login_id}/connect", json={"picks": PICKS})
        assert r.status_code == 404
        wrong_device = c.post("/v1/onboarding/meta", json={"device_id": account.device_id})
        assert wrong_device.status_code == 403


def test_without_a_meta_app_the_relay_says_so(tmp_path: Path, relay: RelayHandle) -> None:
    """A relay whose operator set no Meta app answers 503 with what is missing."""
    from relay.app import create_app
    from tests.conftest import relay_settings
    from tests.fakes.server import serve_app

    with serve_app(create_app(relay_settings(tmp_path / "plain"))) as plain:
        account = sign_up(plain.url)
        with account.client() as c:
            r = c.post("/v1/onboarding/meta", json={"device_id": account.device_id})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "meta_login_unavailable"


async def test_logging_in_again_reconnects_a_rejected_page(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """A Page whose token Meta revoked is picked again: same channel, fresh token, healthy."""
    fake, _ = graph
    account, login_id = _logged_in(relay)
    (channel,) = _connect(account, login_id, [f"messenger:{KAFE_PAGE}"]).json()
    fake.meta.revoke("EAAG-kafe-page-token-0001")  # type: ignore[union-attr]
    reply = {
        "channel_id": channel["id"],
        "recipient_id": "PSID-1",
        "text": "Po",
    }
    assert post_meta(relay.url, messenger_text(KAFE_PAGE, "PSID-1", "m-1", "Hi", _now())).is_success
    with account.client() as c:
        r = c.post("/v1/messages", json={**reply, "idempotency_key": uuid.uuid4().hex})
    assert r.json()["error"]["code"] == "token_invalid"
    assert _channels(account)[0]["status"] == "needs_reconnect"

    fake.meta.sign_in(kafe_owner(page_token="EAAG-kafe-page-token-0002"))  # type: ignore[union-attr]
    account_login = _start(account)
    browse(account_login["login_url"])
    offered = _state(account, account_login["login_id"])["assets"]
    assert next(a for a in offered if a["platform"] == "messenger")["connected"] is True
    r = _connect(account, account_login["login_id"], [f"messenger:{KAFE_PAGE}"])
    assert r.status_code == 201, r.text
    assert r.json()[0]["id"] == channel["id"] and r.json()[0]["status"] == "healthy"
    with account.client() as c:
        r = c.post("/v1/messages", json={**reply, "idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    async with open_stream(account) as stream:
        frames = await stream.events(5)
    statuses = [f.event.status for f in frames if isinstance(f.event, ChannelChanged)]
    assert statuses == ["connected", "needs_reconnect", "healthy"]


def test_disconnecting_unsubscribes_first_unless_another_channel_needs_it(
    relay: RelayHandle, graph: FakeGraphServer
) -> None:
    """Instagram and Messenger share the Page's subscription: it goes with the last of them,
    through the Page token, before the credentials are erased."""
    fake, _ = graph
    account, login_id = _logged_in(relay)
    channels = {c["platform"]: c for c in _connect(account, login_id, PICKS[:2]).json()}
    with account.client() as c:
        assert c.delete(f"/v1/channels/{channels['instagram']['id']}").status_code == 204
        assert fake.meta.subscribed_fields(KAFE_PAGE) == PAGE_FIELDS  # type: ignore[union-attr]
        assert not _requests(fake, "/subscribed_apps", "DELETE")
        assert c.delete(f"/v1/channels/{channels['messenger']['id']}").status_code == 204
    assert fake.meta.subscribed_fields(KAFE_PAGE) is None  # type: ignore[union-attr]
    (unsubscribed,) = _requests(fake, f"/{KAFE_PAGE}/subscribed_apps", "DELETE")
    assert unsubscribed.headers["authorization"] == "Bearer EAAG-kafe-page-token-0001"
    assert _channels(account) == []


def test_a_failed_unsubscribe_still_disconnects(relay: RelayHandle, graph: FakeGraphServer) -> None:
    """Meta failing the unsubscribe is logged; the channel and its credentials still go."""
    fake, _ = graph
    account, login_id = _logged_in(relay)
    (channel,) = _connect(account, login_id, [f"whatsapp:{PHONE_ID}"]).json()
    fake.fail_next(1, status=500)
    with account.client() as c:
        assert c.delete(f"/v1/channels/{channel['id']}").status_code == 204
    assert _requests(fake, f"/{WABA_ID}/subscribed_apps", "DELETE")
    assert _channels(account) == []
