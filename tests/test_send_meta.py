"""Messenger and Instagram sends through the Graph Send API, against the fake Graph over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relay.send import OutboundText, PlatformUrls, SendError, send_text
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, graph_error
from tests.relay_helpers import assert_not_shown
from tests.shared_data import load_fixture

TOKEN = "EAAGsendmetatoken0123456789abcdef"
PAGE_ID = "106540352242922"
IG_ID = "17841400000000001"
CREDENTIALS = {"access_token": TOKEN}


@pytest.fixture(scope="module")
def graph_fake() -> FakeGraph:
    return FakeGraph({TOKEN}, instagram_ids={IG_ID})


def messenger(text: str = "Hello, world!", **fields: Any) -> OutboundText:
    return OutboundText(
        platform="messenger", external_id=PAGE_ID, recipient_id="<PSID>", text=text, **fields
    )


# ---- request shapes ----------------------------------------------------------------------


async def test_messenger_text_body_matches_meta_sample(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A Messenger reply is the documented Send API body, POSTed to the Page's messages edge."""
    sample = load_fixture("send/messenger-text-request.json")
    message_id = await send_text(http, urls, CREDENTIALS, messenger(sample["message"]["text"]))
    (request,) = graph.requests
    assert request.method == "POST"
    assert request.path == f"/{GRAPH_VERSION}/{PAGE_ID}/messages"
    assert request.json == sample
    assert request.headers["content-type"] == "application/json"
    assert message_id.startswith("m_")


async def test_token_travels_in_bearer_header_never_in_url(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """The Page token goes in ``Authorization: Bearer`` and nowhere in the URL."""
    await send_text(http, urls, CREDENTIALS, messenger())
    (request,) = graph.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.query == {}
    assert TOKEN not in request.path


async def test_message_id_read_from_meta_sample_response(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """The returned id is the ``message_id`` of Meta's documented response."""
    sample = load_fixture("send/messenger-response.json")
    graph.respond_next(sample)
    assert await send_text(http, urls, CREDENTIALS, messenger()) == sample["message_id"]


async def test_human_agent_tag_sends_message_tag(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A HUMAN_AGENT reply uses messaging_type MESSAGE_TAG with tag HUMAN_AGENT."""
    await send_text(http, urls, CREDENTIALS, messenger("Sorry for the wait!", tag="HUMAN_AGENT"))
    (request,) = graph.requests
    assert request.json == {
        "recipient": {"id": "<PSID>"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Sorry for the wait!"},
    }


async def test_reply_to_quotes_the_message(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """``reply_to`` becomes the top-level ``reply_to.mid`` of the Send API."""
    await send_text(http, urls, CREDENTIALS, messenger(reply_to="m_quoted123"))
    (request,) = graph.requests
    assert request.json["reply_to"] == {"mid": "m_quoted123"}
    assert request.json["messaging_type"] == "RESPONSE"


async def test_instagram_sends_through_the_same_api(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """An Instagram reply posts the Messenger body to the IG account's messages edge."""
    out = OutboundText(platform="instagram", external_id=IG_ID, recipient_id="1789", text="Hi")
    await send_text(http, urls, CREDENTIALS, out)
    (request,) = graph.requests
    assert request.path == f"/{GRAPH_VERSION}/{IG_ID}/messages"
    assert request.json == {
        "recipient": {"id": "1789"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hi"},
    }


# ---- refused before any request ------------------------------------------------------------


@pytest.mark.parametrize(("platform", "limit"), [("messenger", 2000), ("instagram", 1000)])
async def test_text_over_the_limit_is_refused_without_a_request(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient, platform: Any, limit: int
) -> None:
    """A text one character over the channel's limit is ``too_long`` and never sent."""
    external_id = IG_ID if platform == "instagram" else PAGE_ID
    out = OutboundText(
        platform=platform, external_id=external_id, recipient_id="1", text="x" * limit
    )
    await send_text(http, urls, CREDENTIALS, out)
    graph.reset()
    too_long = OutboundText(
        platform=platform, external_id=external_id, recipient_id="1", text="x" * (limit + 1)
    )
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, too_long)
    assert caught.value.code == "too_long"
    assert str(limit) in caught.value.message
    assert graph.requests == []


@pytest.mark.parametrize(
    ("out", "credentials", "code"),
    [
        (messenger("   "), CREDENTIALS, "bad_request"),
        (messenger(tag="ACCOUNT_UPDATE"), CREDENTIALS, "bad_request"),
        (OutboundText("messenger", "../me", "1", "hi"), CREDENTIALS, "bad_request"),
        (messenger(), {}, "token_invalid"),
    ],
    ids=["empty-text", "retired-tag", "path-in-page-id", "no-credential"],
)
async def test_local_refusals_make_no_request(
    graph: FakeGraph,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    out: OutboundText,
    credentials: dict[str, str],
    code: str,
) -> None:
    """Empty text, unsupported tags, odd ids and missing credentials fail before any request."""
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, credentials, out)
    assert caught.value.code == code
    assert graph.requests == []


# ---- error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "transient", "platform_code"),
    [
        (
            load_fixture("send/messenger-error-invalid-token.json"),
            400,
            "token_invalid",
            False,
            190,
        ),
        (
            load_fixture("send/messenger-error-unavailable.json"),
            400,
            "recipient_unavailable",
            False,
            551,
        ),
        (
            load_fixture("send/messenger-error-outside-window.json"),
            400,
            "window_closed",
            False,
            10,
        ),
        (graph_error(10, "(#10) Permission", subcode=2018278), 400, "window_closed", False, 10),
        (
            graph_error(100, "(#100) No matching user found", subcode=2018001),
            400,
            "recipient_unavailable",
            False,
            100,
        ),
        (graph_error(100, "(#100) Invalid parameter"), 400, "bad_request", False, 100),
        (
            graph_error(613, "Calls to this api have exceeded the rate limit."),
            400,
            "rate_limited",
            True,
            613,
        ),
        (graph_error(4, "(#4) Application request limit reached"), 403, "rate_limited", True, 4),
        (graph_error(2, "An unexpected error has occurred."), 500, "platform_error", True, 2),
        (graph_error(1, "An unknown error occurred"), 400, "platform_error", True, 1),
        (
            graph_error(10, "(#10) Application does not have permission"),
            403,
            "platform_error",
            False,
            10,
        ),
        (
            graph_error(368, "Temporarily blocked for policies violations"),
            400,
            "platform_error",
            False,
            368,
        ),
        (b"<html>Bad Gateway</html>", 502, "platform_error", True, None),
        (b"<html>Forbidden</html>", 403, "platform_error", False, None),
    ],
    ids=[
        "190-fixture",
        "551-fixture",
        "outside-window-fixture",
        "10/2018278",
        "100/2018001",
        "100",
        "613",
        "4",
        "2",
        "1",
        "10-permission",
        "368",
        "502-html",
        "403-html",
    ],
)
async def test_graph_errors_map_by_code_and_subcode(
    graph: FakeGraph,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    body: Any,
    status: int,
    code: str,
    transient: bool,
    platform_code: int | None,
) -> None:
    """Each Graph error becomes the typed SendError the UI explains, whatever the HTTP status."""
    graph.fail_recipient("<PSID>", body, status=status)
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger())
    err = caught.value
    assert (err.code, err.transient, err.platform_code) == (code, transient, platform_code)
    assert err.message
    assert_not_shown(err, TOKEN)


async def test_window_closed_on_a_tagged_reply_names_the_seven_day_window(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A HUMAN_AGENT reply refused as out of window tells the owner about the 7-day window."""
    graph.fail_recipient("<PSID>", load_fixture("send/messenger-error-outside-window.json"))
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger(tag="HUMAN_AGENT"))
    assert caught.value.code == "window_closed"
    assert "7-day" in caught.value.message


async def test_window_closed_message_is_plain_words(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """An untagged out-of-window reply says the 24-hour window closed, not Graph jargon."""
    graph.fail_recipient("<PSID>", load_fixture("send/messenger-error-outside-window.json"))
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger())
    assert caught.value.message == (
        "The 24-hour reply window has closed; the customer must write again first."
    )
    assert caught.value.detail is not None
    assert "subcode=2018065" in caught.value.detail


async def test_wrong_token_is_token_invalid_and_never_shown(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A token Graph does not know gives ``token_invalid``, and the token is in no error text."""
    wrong = "EAAGwrongtoken9876543210fedcba"
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, {"access_token": wrong}, messenger())
    err = caught.value
    assert (err.code, err.platform_code, err.transient) == ("token_invalid", 190, False)
    assert_not_shown(err, wrong)


async def test_token_echoed_in_a_platform_error_is_redacted(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """If Graph's error text repeats the token, the SendError keeps it out of every field."""
    graph.fail_recipient("<PSID>", graph_error(100, f"(#100) Bad token {TOKEN} in request"))
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger())
    assert caught.value.detail is not None
    assert "[redacted]" in caught.value.detail
    assert_not_shown(caught.value, TOKEN)


async def test_retry_after_header_is_reported(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A throttling answer's ``Retry-After`` seconds come back as ``retry_after_s``."""
    graph.fail_next(1, 429, graph_error(613, "rate limit"), headers={"Retry-After": "7"})
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger())
    assert (caught.value.code, caught.value.retry_after_s) == ("rate_limited", 7.0)


async def test_unreadable_success_is_not_transient(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A 200 without a message id is an error that is not retried (it may have gone out)."""
    graph.respond_next({"recipient_id": "<PSID>"})
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, messenger())
    assert (caught.value.code, caught.value.transient) == ("platform_error", False)
