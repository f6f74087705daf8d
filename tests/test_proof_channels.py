"""A pasted Messenger, Instagram or WhatsApp id is accepted only when its token can act on
it; Connect with Facebook takes back an id another shop pasted without that proof."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.events import ChannelChanged
from relay.app import create_app
from tests.conftest import relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.meta_users import FakePage, MetaUser
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.meta_helpers import (
    IG_ID,
    KAFE_PAGE,
    PHONE_ID,
    WABA_ID,
    RelayHandle,
    browse,
    kafe_owner,
    meta_graph,
    meta_relay,
)
from tests.relay_helpers import Account, open_stream, sign_up

TOKEN_A = "EAAG-shop-a-token-0001"
TOKEN_B = "EAAG-shop-b-token-0002"
OWNERS = {
    TOKEN_A: {"PAGE_A", "IG_A", "PHONE_A", "WABA_A"},
    TOKEN_B: {"PAGE_B", "IG_B", "PHONE_B", "WABA_B"},
}


def _paste(platform: str, node: str, token: str) -> dict[str, str]:
    if platform == "messenger":
        return {"platform": platform, "page_id": f"PAGE_{node}", "access_token": token}
    if platform == "instagram":
        return {"platform": platform, "account_id": f"IG_{node}", "access_token": token}
    return {
        "platform": platform,
        "phone_number_id": f"PHONE_{node}",
        "business_account_id": f"WABA_{node}",
        "access_token": token,
    }


@pytest.fixture
def owned_relay(tmp_path: Path) -> Iterator[ServedApp]:
    """A relay (no Meta app) whose fake Graph lets each shop's token read only its nodes."""
    fake = FakeGraph(set(), owners=OWNERS)
    with serve_app(fake.app) as graph:

        def build(base_url: str) -> object:
            return create_app(
                relay_settings(
                    tmp_path, graph_url=f"{graph.url}/{GRAPH_VERSION}", public_url=base_url
                )
            )

        with serve_app(AppFactory(build)) as served:
            yield served


@pytest.mark.parametrize("platform", ["messenger", "instagram", "whatsapp"])
def test_a_pasted_id_the_token_cannot_act_on_is_refused(
    owned_relay: ServedApp, platform: str
) -> None:
    """Shop B pastes shop A's id with B's own valid token: 422, nothing stored; shop A
    pastes the same id with A's token and gets the channel."""
    shop_b = sign_up(owned_relay.url)
    with shop_b.client() as c:
        r = c.post("/v1/channels", json=_paste(platform, "A", TOKEN_B))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "not_managed"
        assert TOKEN_B not in r.text
        assert c.get("/v1/channels").json() == []
    shop_a = sign_up(owned_relay.url)
    shop_a.connect(**_paste(platform, "A", TOKEN_A))


def test_whatsapp_needs_both_the_number_and_its_account(owned_relay: ServedApp) -> None:
    """A number of one's own with someone else's WhatsApp account id is refused too."""
    shop_a = sign_up(owned_relay.url)
    fields = {**_paste("whatsapp", "A", TOKEN_A), "business_account_id": "WABA_B"}
    with shop_a.client() as c:
        r = c.post("/v1/channels", json=fields)
    assert r.status_code == 422, r.text
    assert "WABA_B" in r.json()["error"]["message"]


# ---- Connect with Facebook reclaims an unverified paste -------------------------------------

MALLORY_TOKEN = "EAAG-mallory-page-token"


def _mallory() -> MetaUser:
    """Another shop owner with a Page of her own and a valid token for it."""
    return MetaUser("10999", pages=(FakePage("777001", "Mallory Shop", MALLORY_TOKEN),))


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, ServedApp]]:
    with meta_graph() as served:
        assert served[0].meta is not None
        served[0].meta.sign_in(_mallory())
        served[0].meta.sign_in(kafe_owner())
        yield served


@pytest.fixture
def meta(tmp_path: Path, graph: tuple[FakeGraph, ServedApp]) -> Iterator[RelayHandle]:
    with meta_relay(tmp_path, graph[1]) as handle:
        yield handle


def _connect_with_facebook(account: Account, picks: list[str]) -> httpx.Response:
    with account.client() as c:
        started = c.post("/v1/onboarding/meta", json={"device_id": account.device_id}).json()
        page, _ = browse(started["login_url"])
        assert page.status_code == 200, page.text
        return c.post(f"/v1/onboarding/meta/{started['login_id']}/connect", json={"picks": picks})


@pytest.mark.parametrize(
    "fields",
    [
        {"platform": "messenger", "page_id": KAFE_PAGE},
        {"platform": "instagram", "account_id": IG_ID},
        {"platform": "whatsapp", "phone_number_id": PHONE_ID, "business_account_id": WABA_ID},
    ],
    ids=["messenger", "instagram", "whatsapp"],
)
def test_another_owners_valid_token_cannot_claim_a_page(
    meta: RelayHandle, fields: dict[str, str]
) -> None:
    """Mallory's token is valid, but not for Arta's Page, Instagram account or number."""
    mallory = sign_up(meta.url)
    with mallory.client() as c:
        r = c.post("/v1/channels", json={**fields, "access_token": MALLORY_TOKEN})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "not_managed"


async def test_connect_with_facebook_reclaims_an_unverified_paste(
    meta: RelayHandle, graph: tuple[FakeGraph, ServedApp]
) -> None:
    """Graph is down while Mallory pastes Arta's Page: it is kept, unverified. Arta then
    connects it with Facebook: the Page becomes hers, Mallory's devices hear it was
    disconnected, and Arta's messages no longer reach Mallory."""
    fake, _ = graph
    mallory = sign_up(meta.url)
    fake.fail_next(times=2, status=503)  # debug_token and the ownership read
    mallory.connect(platform="messenger", page_id=KAFE_PAGE, access_token=MALLORY_TOKEN)

    arta = sign_up(meta.url)
    r = _connect_with_facebook(arta, [f"messenger:{KAFE_PAGE}"])
    assert r.status_code == 201, r.text
    (channel,) = r.json()
    assert channel["external_id"] == KAFE_PAGE

    with mallory.client() as c:
        assert c.get("/v1/channels").json() == []
    async with open_stream(mallory) as stream:
        changes: list[Any] = []
        while not any(getattr(e, "status", "") == "disconnected" for e in changes):
            frame = await stream.frame()
            event = getattr(frame, "event", None)
            if isinstance(event, ChannelChanged):
                changes.append(event)
    assert [e.status for e in changes] == ["connected", "disconnected"]


def test_a_verified_paste_is_not_taken(meta: RelayHandle) -> None:
    """A paste whose token Graph confirmed stays; Connect with Facebook answers 409."""
    holder = sign_up(meta.url)
    holder.connect(
        platform="messenger", page_id=KAFE_PAGE, access_token="EAAG-kafe-page-token-0001"
    )
    arta = sign_up(meta.url)
    r = _connect_with_facebook(arta, [f"messenger:{KAFE_PAGE}"])
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "channel_taken"
    with holder.client() as c:
        assert len(c.get("/v1/channels").json()) == 1
