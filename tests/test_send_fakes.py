"""The fake Graph and Viber APIs check requests like the real platforms do (raw HTTP calls)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.server import serve_app
from tests.fakes.viber import FakeViber, WebhookTarget

TOKEN = "EAAGfaketoken0123456789"
VIBER_TOKEN = "4453b6ac-fake-viber-token"
PAGE_ID = "1001"
IG_ID = "17841400000000001"
WA_ID = "106540352242922"
GOOD_MESSENGER = {
    "recipient": {"id": "42"},
    "messaging_type": "RESPONSE",
    "message": {"text": "hi"},
}
GOOD_VIBER = {
    "receiver": "u1",
    "min_api_version": 1,
    "sender": {"name": "Shop"},
    "type": "text",
    "text": "hi",
}


@pytest.fixture(scope="module")
def served_graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph({TOKEN}, instagram_ids={IG_ID}, whatsapp_numbers={WA_ID})
    with serve_app(fake.app) as served:
        yield fake, f"{served.url}/{GRAPH_VERSION}"


@pytest.fixture
def graph(served_graph: tuple[FakeGraph, str]) -> tuple[FakeGraph, str]:
    served_graph[0].reset()
    return served_graph


@pytest.fixture(scope="module")
def served_viber() -> Iterator[tuple[FakeViber, str]]:
    fake = FakeViber({VIBER_TOKEN}, require_webhook=True)
    with serve_app(fake.app) as served:
        yield fake, f"{served.url}/pa"


@pytest.fixture
def viber(served_viber: tuple[FakeViber, str]) -> tuple[FakeViber, str]:
    served_viber[0].reset()
    return served_viber


def with_text(text: str) -> dict[str, Any]:
    return {**GOOD_MESSENGER, "message": {"text": text}}


# ---- Graph -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "params", "code"),
    [({}, {}, 104), ({"Authorization": "Bearer nope"}, {}, 190), ({}, {"access_token": "x"}, 190)],
    ids=["missing", "wrong-bearer", "wrong-query"],
)
async def test_graph_rejects_missing_or_unknown_tokens(
    graph: tuple[FakeGraph, str],
    http: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, str],
    code: int,
) -> None:
    """No token is Graph's 104; an unknown one (header or query) is 190."""
    response = await http.post(
        f"{graph[1]}/{PAGE_ID}/messages", json=GOOD_MESSENGER, headers=headers, params=params
    )
    assert response.status_code >= 400
    assert response.json()["error"]["code"] == code


async def test_graph_accepts_the_token_as_query_parameter(
    graph: tuple[FakeGraph, str], http: httpx.AsyncClient
) -> None:
    """Meta's samples pass ``access_token`` in the query; the fake accepts that too."""
    response = await http.post(
        f"{graph[1]}/{PAGE_ID}/messages", json=GOOD_MESSENGER, params={"access_token": TOKEN}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"recipient_id", "message_id"}
    assert graph[0].requests[0].query == {"access_token": TOKEN}


@pytest.mark.parametrize(
    ("node", "body", "fragment"),
    [
        (PAGE_ID, {"messaging_type": "RESPONSE", "message": {"text": "hi"}}, "recipient"),
        (PAGE_ID, {"recipient": {"id": "42"}, "message": {"text": "hi"}}, "messaging_type"),
        (PAGE_ID, {**GOOD_MESSENGER, "messaging_type": "MESSAGE_TAG"}, "Tag"),
        (
            PAGE_ID,
            {**GOOD_MESSENGER, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"},
            "Tag",
        ),
        (PAGE_ID, with_text("x" * 2001), "2000"),
        (IG_ID, with_text("x" * 1001), "1000"),
        (PAGE_ID, {"recipient": {"id": "42"}, "messaging_type": "RESPONSE"}, "message[text]"),
        (WA_ID, {"to": "1", "type": "text", "text": {"body": "hi"}}, "messaging_product"),
        (WA_ID, {"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}}, "to"),
        (
            WA_ID,
            {"messaging_product": "whatsapp", "to": "1", "text": {"body": "x" * 4097}},
            "Invalid parameter",
        ),
    ],
    ids=[
        "no-recipient",
        "no-messaging-type",
        "tag-missing",
        "retired-tag",
        "messenger-2001",
        "instagram-1001",
        "no-text",
        "wa-no-product",
        "wa-no-to",
        "wa-4097",
    ],
)
async def test_graph_rejects_invalid_send_bodies_with_code_100(
    graph: tuple[FakeGraph, str],
    http: httpx.AsyncClient,
    node: str,
    body: dict[str, Any],
    fragment: str,
) -> None:
    """Bodies the real Send API refuses get a Graph error 100 naming the problem."""
    response = await http.post(
        f"{graph[1]}/{node}/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["type"] == "OAuthException"
    assert "fbtrace_id" in error
    assert fragment in error["message"]


async def test_graph_records_every_request_including_refused_ones(
    graph: tuple[FakeGraph, str], http: httpx.AsyncClient
) -> None:
    """The log keeps method, path, query, headers and parsed JSON of each request in order."""
    await http.post(f"{graph[1]}/{PAGE_ID}/messages?x=1", json={"a": 1})
    await http.post(f"{graph[1]}/{PAGE_ID}/messages", content=b"not json")
    first, second = graph[0].requests
    assert (first.method, first.path, first.query, first.json) == (
        "POST",
        f"/{GRAPH_VERSION}/{PAGE_ID}/messages",
        {"x": "1"},
        {"a": 1},
    )
    assert first.headers["content-type"] == "application/json"
    assert (second.body, second.json) == (b"not json", None)


async def test_graph_programmed_answers_come_first_then_normal_service(
    graph: tuple[FakeGraph, str], http: httpx.AsyncClient
) -> None:
    """``fail_next(2, ...)`` answers two requests, then the fake serves normally again."""
    graph[0].fail_next(2, 503, headers={"Retry-After": "1"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{graph[1]}/{PAGE_ID}/messages"
    statuses = [(await http.post(url, json=GOOD_MESSENGER, headers=auth)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["retry-after"] == "1"
    assert statuses[0].json()["error"]["code"] == 2


# ---- Viber -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, GOOD_VIBER, 2),
        ({"X-Viber-Auth-Token": "nope"}, GOOD_VIBER, 2),
        ({"X-Viber-Auth-Token": VIBER_TOKEN}, {**GOOD_VIBER, "sender": {}}, 3),
        ({"X-Viber-Auth-Token": VIBER_TOKEN}, {**GOOD_VIBER, "sender": {"name": "x" * 29}}, 3),
        ({"X-Viber-Auth-Token": VIBER_TOKEN}, {**GOOD_VIBER, "text": "x" * 7001}, 3),
        (
            {"X-Viber-Auth-Token": VIBER_TOKEN},
            {k: v for k, v in GOOD_VIBER.items() if k != "receiver"},
            4,
        ),
        ({"X-Viber-Auth-Token": VIBER_TOKEN}, GOOD_VIBER, 10),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "no-sender-name",
        "long-sender-name",
        "text-7001",
        "no-receiver",
        "webhook-not-set",
    ],
)
async def test_viber_answers_errors_as_status_numbers(
    viber: tuple[FakeViber, str],
    http: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
) -> None:
    """Viber answers HTTP 200 with the documented non-zero status for each bad request."""
    response = await http.post(f"{viber[1]}/send_message", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == status


async def test_viber_accepts_the_legacy_token_in_the_body(
    viber: tuple[FakeViber, str], http: httpx.AsyncClient
) -> None:
    """The official Python library's ``auth_token`` body field works like the header."""
    response = await http.post(
        f"{viber[1]}/set_webhook", json={"url": "", "auth_token": VIBER_TOKEN}
    )
    assert response.json() == {"status": 0, "status_message": "ok"}


async def test_viber_callbacks_are_signed_like_viber(
    viber: tuple[FakeViber, str], http: httpx.AsyncClient
) -> None:
    """set_webhook's check and ``deliver`` sign the body with HMAC-SHA256 keyed by the token."""
    hook = WebhookTarget(status=404)
    auth = {"X-Viber-Auth-Token": VIBER_TOKEN}
    with serve_app(hook.app) as served:
        url = f"{served.url}/webhooks/viber/1"
        refused = await http.post(f"{viber[1]}/set_webhook", json={"url": url}, headers=auth)
        hook.status = 200
        accepted = await http.post(f"{viber[1]}/set_webhook", json={"url": url}, headers=auth)
        delivered = await viber[0].deliver(VIBER_TOKEN, {"event": "seen", "message_token": 2**60})
    assert refused.json()["status"] == 1
    assert accepted.json()["status"] == 0
    assert delivered.status_code == 200
    assert [attempt.status for attempt in viber[0].callbacks] == [404, 200]
    assert [r.json["event"] for r in hook.requests] == ["webhook", "webhook", "seen"]
    assert hook.requests[-1].json["message_token"] == 2**60
    for recorded in hook.requests:
        expected = hmac.new(VIBER_TOKEN.encode(), recorded.body, hashlib.sha256).hexdigest()
        assert recorded.headers["x-viber-content-signature"] == expected
