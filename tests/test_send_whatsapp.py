"""WhatsApp Cloud API sends against the fake Graph over HTTP: body shape and error mapping."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from relay.send import OutboundText, PlatformUrls, SendError, send_text
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, graph_error
from tests.relay_helpers import assert_not_shown
from tests.shared_data import load_fixture

TOKEN = "EAAGwhatsappsendtoken0123456789"
PHONE_NUMBER_ID = "106540352242922"
CREDENTIALS = {"access_token": TOKEN}
TO = "+16505551234"


@pytest.fixture(scope="module")
def graph_fake() -> FakeGraph:
    return FakeGraph({TOKEN}, whatsapp_numbers={PHONE_NUMBER_ID})


def whatsapp(text: str, **fields: Any) -> OutboundText:
    return OutboundText(
        platform="whatsapp", external_id=PHONE_NUMBER_ID, recipient_id=TO, text=text, **fields
    )


async def test_text_body_matches_meta_sample_without_link_preview(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A WhatsApp reply is Meta's documented text body (link previews off) with a Bearer token."""
    sample = load_fixture("send/whatsapp-text-request.json")
    await send_text(http, urls, CREDENTIALS, whatsapp(sample["text"]["body"]))
    (request,) = graph.requests
    expected = copy.deepcopy(sample)
    expected["text"]["preview_url"] = False
    assert request.json == expected
    assert request.path == f"/{GRAPH_VERSION}/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.query == {}


async def test_reply_adds_context_like_meta_sample(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """``reply_to`` becomes ``context.message_id`` as in Meta's contextual-reply sample."""
    sample = load_fixture("send/whatsapp-reply-request.json")
    out = whatsapp(sample["text"]["body"], reply_to=sample["context"]["message_id"])
    await send_text(http, urls, CREDENTIALS, out)
    (request,) = graph.requests
    expected = copy.deepcopy(sample)
    expected["text"]["preview_url"] = False
    assert request.json == expected


async def test_message_id_is_first_wamid_of_meta_sample_response(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """The returned id is ``messages[0].id`` of Meta's documented response."""
    sample = load_fixture("send/whatsapp-text-response.json")
    graph.respond_next(sample)
    assert await send_text(http, urls, CREDENTIALS, whatsapp("Hi")) == sample["messages"][0]["id"]


async def test_fake_answer_is_a_wamid(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A send the fake accepts returns the wamid it generated."""
    assert (await send_text(http, urls, CREDENTIALS, whatsapp("Hi"))).startswith("wamid.")


async def test_human_agent_tag_is_not_sent_to_whatsapp(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """WhatsApp has no message tags: a tagged reply goes out as a plain text body."""
    await send_text(http, urls, CREDENTIALS, whatsapp("Hi", tag="HUMAN_AGENT"))
    (request,) = graph.requests
    assert "tag" not in request.json
    assert "messaging_type" not in request.json


async def test_limit_is_4096_characters(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """4096 characters go out; 4097 are refused as ``too_long`` before any request."""
    await send_text(http, urls, CREDENTIALS, whatsapp("x" * 4096))
    graph.reset()
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, whatsapp("x" * 4097))
    assert caught.value.code == "too_long"
    assert graph.requests == []


def wa_error(code: int, message: str, details: str = "") -> dict[str, Any]:
    return graph_error(code, message, details=details or message)


@pytest.mark.parametrize(
    ("body", "status", "code", "transient"),
    [
        (
            wa_error(
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.",
            ),
            400,
            "window_closed",
            False,
        ),
        (wa_error(131026, "Message undeliverable"), 400, "recipient_unavailable", False),
        (wa_error(130429, "Rate limit hit"), 429, "rate_limited", True),
        (
            wa_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
            400,
            "rate_limited",
            True,
        ),
        (wa_error(80007, "Rate limit issues"), 400, "rate_limited", True),
        (wa_error(131048, "Spam rate limit hit"), 400, "rate_limited", True),
        (wa_error(131008, "Required parameter is missing"), 400, "bad_request", False),
        (
            graph_error(190, "Error validating access token: Session has expired", subcode=463),
            401,
            "token_invalid",
            False,
        ),
        (wa_error(131000, "Something went wrong"), 500, "platform_error", True),
        (wa_error(131031, "Account has been locked"), 400, "platform_error", False),
    ],
    ids=[
        "131047",
        "131026",
        "130429",
        "131056",
        "80007",
        "131048",
        "131008",
        "190",
        "131000-500",
        "131031",
    ],
)
async def test_whatsapp_errors_map_by_code(
    graph: FakeGraph,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    body: dict[str, Any],
    status: int,
    code: str,
    transient: bool,
) -> None:
    """Each WhatsApp error code becomes the typed SendError, transient only for throttling/5xx."""
    graph.fail_recipient(TO, body, status=status)
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, whatsapp("Hi"))
    err = caught.value
    assert (err.code, err.transient, err.platform_code) == (code, transient, body["error"]["code"])
    assert_not_shown(err, TOKEN)


async def test_error_details_are_kept_for_logs(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """WhatsApp's ``error_data.details`` text is kept in ``detail``, not in the owner's message."""
    graph.fail_recipient(TO, wa_error(131026, "Message undeliverable", "Receiver is incapable"))
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, whatsapp("Hi"))
    assert caught.value.detail is not None
    assert "Receiver is incapable" in caught.value.detail
    assert "Receiver is incapable" not in caught.value.message
