"""Viber bot sends, webhook registration and account info against the fake Viber over HTTP."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relay.send import (
    OutboundText,
    PlatformUrls,
    SendError,
    send_text,
    send_with_retry,
    viber_account_info,
    viber_set_webhook,
)
from tests.fakes.graph import Recorded
from tests.fakes.server import ServedApp, serve_app
from tests.fakes.viber import FIRST_MESSAGE_TOKEN, FakeViber, WebhookTarget
from tests.relay_helpers import assert_not_shown
from tests.shared_data import load_fixture

TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
CREDENTIALS = {"auth_token": TOKEN}
SUBSCRIBED = "jc9HsWTZ2Yf2NkRZ8KcNug=="
STRANGER = "not+subscribed+user=="


@pytest.fixture(scope="module")
def served_viber() -> Iterator[tuple[FakeViber, PlatformUrls]]:
    fake = FakeViber({TOKEN}, subscribers={SUBSCRIBED})
    with serve_app(fake.app) as served:
        yield fake, PlatformUrls(graph="http://127.0.0.1:9", viber=f"{served.url}/pa")


@pytest.fixture
def viber(served_viber: tuple[FakeViber, PlatformUrls]) -> FakeViber:
    served_viber[0].reset()
    return served_viber[0]


@pytest.fixture
def urls(served_viber: tuple[FakeViber, PlatformUrls]) -> PlatformUrls:
    return served_viber[1]


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookTarget, ServedApp]]:
    hook = WebhookTarget()
    with serve_app(hook.app) as served:
        yield hook, served


def to_viber(text: str = "Hello world!", receiver: str = SUBSCRIBED, **fields: Any) -> OutboundText:
    return OutboundText(
        platform="viber", external_id="", recipient_id=receiver, text=text, **fields
    )


def assert_signed(callback: Recorded) -> None:
    expected = hmac.new(TOKEN.encode(), callback.body, hashlib.sha256).hexdigest()
    assert callback.headers["x-viber-content-signature"] == expected


# ---- send_message ------------------------------------------------------------------------------


async def test_text_body_matches_viber_sample(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A Viber reply is the documented send_message body, with the token in its header."""
    sample = load_fixture("send/viber-text-request.json")
    out = to_viber(sample["text"], sample["receiver"], sender_name=sample["sender"]["name"])
    await send_text(http, urls, CREDENTIALS, out)
    (request,) = viber.requests
    assert request.path == "/pa/send_message"
    assert request.headers["x-viber-auth-token"] == TOKEN
    expected = {key: value for key, value in sample.items() if key != "tracking_data"}
    expected["sender"] = {"name": sample["sender"]["name"]}
    assert request.json == expected
    assert TOKEN not in request.body.decode()


async def test_message_token_is_returned_exactly(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """The 64-bit message_token comes back as its exact decimal string."""
    assert FIRST_MESSAGE_TOKEN > 2**53
    assert await send_text(http, urls, CREDENTIALS, to_viber()) == str(FIRST_MESSAGE_TOKEN)


async def test_token_that_a_float_would_round_stays_exact(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """2**53 + 1 (which a float turns into 2**53) is returned unchanged."""
    viber.respond_next(b'{"status":0,"status_message":"ok","message_token":9007199254740993}')
    assert await send_text(http, urls, CREDENTIALS, to_viber()) == "9007199254740993"


async def test_sender_name_defaults_and_is_cut_to_28(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """No sender name sends "Shop"; a long one is cut to Viber's 28 characters."""
    await send_text(http, urls, CREDENTIALS, to_viber())
    await send_text(
        http, urls, CREDENTIALS, to_viber(sender_name="The Very Long Named Corner Bakery")
    )
    first, second = viber.requests
    assert first.json["sender"] == {"name": "Shop"}
    assert second.json["sender"] == {"name": "The Very Long Named Corner B"}


async def test_reply_to_and_tag_are_ignored(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Viber has no quoting or tags, so neither appears in the body."""
    await send_text(http, urls, CREDENTIALS, to_viber(reply_to="123", tag="HUMAN_AGENT"))
    (request,) = viber.requests
    assert set(request.json) == {"receiver", "min_api_version", "sender", "type", "text"}


async def test_over_7000_characters_is_refused_without_a_request(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """7000 characters go out; 7001 are ``too_long`` before any request."""
    await send_text(http, urls, CREDENTIALS, to_viber("й" * 7000))
    viber.reset()
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, to_viber("x" * 7001))
    assert caught.value.code == "too_long"
    assert viber.requests == []


async def test_too_many_requests_is_rate_limited_for_an_hour_without_retry(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Status 12 (100 messages/hour/user) is rate_limited, retry in an hour, and not retried now."""
    viber.fail_receiver(SUBSCRIBED, load_fixture("send/viber-error-too-many-requests.json"))
    with pytest.raises(SendError) as caught:
        await send_with_retry(http, urls, CREDENTIALS, to_viber(), base_delay_s=0.001)
    err = caught.value
    assert (err.code, err.transient, err.retry_after_s, err.platform_code) == (
        "rate_limited",
        False,
        3600.0,
        12,
    )
    assert len(viber.requests) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (2, "token_invalid"),
        (3, "bad_request"),
        (4, "bad_request"),
        (5, "recipient_unavailable"),
        (6, "recipient_unavailable"),
        (7, "platform_error"),
        (9, "platform_error"),
        (10, "platform_error"),
        (11, "recipient_unavailable"),
        (24, "platform_error"),
        (999, "platform_error"),
    ],
)
async def test_viber_status_codes_map_to_send_errors(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient, status: int, code: str
) -> None:
    """Each non-zero Viber status becomes the typed, non-transient SendError for it."""
    viber.fail_receiver(SUBSCRIBED, {"status": status, "status_message": "whatever"})
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, to_viber())
    err = caught.value
    assert (err.code, err.transient, err.platform_code) == (code, False, status)


async def test_unsubscribed_user_is_recipient_unavailable(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Messaging someone who never subscribed gives ``recipient_unavailable``."""
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, to_viber(receiver=STRANGER))
    assert (caught.value.code, caught.value.platform_code) == ("recipient_unavailable", 6)


async def test_wrong_token_is_token_invalid_and_never_shown(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A token Viber does not know gives ``token_invalid``; the token is in no error text."""
    wrong = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, {"auth_token": wrong}, to_viber())
    err = caught.value
    assert (err.code, err.platform_code) == ("token_invalid", 2)
    assert_not_shown(err, wrong)


async def test_server_error_is_transient(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """An HTTP 503 from Viber is a transient platform_error."""
    viber.fail_next(1, 503)
    with pytest.raises(SendError) as caught:
        await send_text(http, urls, CREDENTIALS, to_viber())
    assert (caught.value.code, caught.value.transient) == ("platform_error", True)


# ---- set_webhook, get_account_info -----------------------------------------------------------


async def test_set_webhook_is_confirmed_by_a_signed_callback(
    viber: FakeViber,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    receiver: tuple[WebhookTarget, ServedApp],
) -> None:
    """Setting the webhook makes Viber POST a signed ``webhook`` event there before it succeeds."""
    hook, served = receiver
    url = f"{served.url}/webhooks/viber/abc"
    await viber_set_webhook(http, urls, TOKEN, url)
    (callback,) = hook.requests
    assert callback.path == "/webhooks/viber/abc"
    assert callback.json["event"] == "webhook"
    assert isinstance(callback.json["message_token"], int)
    assert_signed(callback)
    (request,) = viber.requests
    assert request.json == {
        "url": url,
        "event_types": load_fixture("send/viber-set-webhook-request.json")["event_types"],
        "send_name": True,
        "send_photo": True,
    }
    assert viber.webhook(TOKEN) == url


async def test_set_webhook_fails_when_the_callback_is_refused(
    viber: FakeViber,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    receiver: tuple[WebhookTarget, ServedApp],
) -> None:
    """A webhook URL that does not answer 200 is refused with plain words, and not set."""
    hook, served = receiver
    hook.status = 403
    with pytest.raises(SendError) as caught:
        await viber_set_webhook(http, urls, TOKEN, f"{served.url}/nope")
    assert (caught.value.code, caught.value.platform_code) == ("bad_request", 1)
    assert "webhook" in caught.value.message
    assert viber.webhook(TOKEN) is None


async def test_set_webhook_with_a_wrong_token_is_token_invalid(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A pasted token Viber does not know is reported as ``token_invalid``."""
    with pytest.raises(SendError) as caught:
        await viber_set_webhook(http, urls, "wrong-token", "http://127.0.0.1:9/x")
    assert caught.value.code == "token_invalid"


async def test_account_info_returns_the_bot_details(
    viber: FakeViber,
    urls: PlatformUrls,
    http: httpx.AsyncClient,
    receiver: tuple[WebhookTarget, ServedApp],
) -> None:
    """get_account_info gives the bot's id, name and icon, and the webhook that was set."""
    url = f"{receiver[1].url}/hook"
    await viber_set_webhook(http, urls, TOKEN, url)
    info = await viber_account_info(http, urls, TOKEN)
    assert info["status"] == 0
    assert info["name"] == viber.accounts[TOKEN]["name"]
    assert info["id"].startswith("pa:")
    assert info["icon"].startswith("https://")
    assert info["webhook"] == url
    assert viber.requests[-1].headers["x-viber-auth-token"] == TOKEN


async def test_account_info_with_a_wrong_token_is_token_invalid(
    viber: FakeViber, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Checking a pasted token that Viber rejects raises ``token_invalid``."""
    with pytest.raises(SendError) as caught:
        await viber_account_info(http, urls, "wrong-token")
    assert caught.value.code == "token_invalid"
