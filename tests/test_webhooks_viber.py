"""Viber callback normaliser: recorded callbacks and every message type to typed events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.events import (
    EVENT_DECODER,
    Attachment,
    ChannelAlert,
    Customer,
    Location,
    MessageReceived,
    PlatformError,
    SharedContact,
    Status,
    Subscription,
    Unsupported,
    encode_event,
)
from relay.webhooks.parsing import Ignored
from relay.webhooks.viber import ParseResult, PayloadError, parse_viber
from tests.shared_data import OWN_FIXTURES, fixture_bytes, shared_bytes

TOKEN = "4912661846655238145"  # above 2**53: a float would round it
TS = 1457764197627
CHANNEL = "ch-viber"


def callback(**fields: Any) -> ParseResult:
    """A callback body written as Viber does: raw UTF-8, numbers as JSON numbers."""
    return parse_viber(json.dumps(fields, ensure_ascii=False).encode(), CHANNEL)


def only(result: ParseResult) -> Any:
    assert result.ignored == []
    assert len(result.events) == 1
    return result.events[0]


def message(kind: str, **fields: Any) -> ParseResult:
    return callback(
        event="message",
        timestamp=TS,
        message_token=5000000000000000001,
        sender={"id": "U1=", "name": "Ана"},
        message={"type": kind, **fields},
    )


SENDER = Customer(id="U1=", name="Ана")


def received(**fields: Any) -> MessageReceived:
    return MessageReceived(
        channel_id=CHANNEL,
        platform="viber",
        customer=SENDER,
        timestamp_ms=TS,
        platform_id="5000000000000000001",
        **fields,
    )


# --- The project's fixtures ------------------------------------------------------------

OWN_TOKEN = "5491234567890123457"  # above 2**53, as real tokens are
OWN_TS = 1764840000000
JELENA = Customer(
    id="7zYj3vXkQ2aBpL9sWq1e4w==",
    name="Jelena Petrović",
    avatar_url="https://media-direct.cdn.viber.example/avatar/jelena.jpg",
)


def own(name: str) -> ParseResult:
    return parse_viber(fixture_bytes(f"viber/{name}.json"), CHANNEL)


def test_delivered() -> None:
    """A delivered receipt names our message by its exact token."""
    assert only(own("delivered")) == Status(
        channel_id=CHANNEL,
        platform="viber",
        customer=Customer(id=JELENA.id),
        timestamp_ms=OWN_TS + 10,
        platform_id=f"{OWN_TOKEN}:delivered",
        status="delivered",
        message_ids=(OWN_TOKEN,),
    )


def test_seen() -> None:
    """A seen receipt is a read Status."""
    assert only(own("seen")) == Status(
        channel_id=CHANNEL,
        platform="viber",
        customer=Customer(id=JELENA.id),
        timestamp_ms=OWN_TS + 11,
        platform_id=f"{OWN_TOKEN}:read",
        status="read",
        message_ids=(OWN_TOKEN,),
    )


def test_message_text_in_serbian_and_albanian() -> None:
    """A text message keeps Cyrillic and Albanian text, name and avatar; the token is the id;
    the tracking_data our send carried comes back as callback_data."""
    assert only(own("message-text")) == MessageReceived(
        channel_id=CHANNEL,
        platform="viber",
        customer=JELENA,
        timestamp_ms=OWN_TS + 1,
        platform_id="5491234567890123458",
        text="Здраво! Да ли имате веганске колаче? Çfarë keni sot?",
        callback_data="menu-v2",
    )


def test_subscribed() -> None:
    """A subscription names the user with name and avatar."""
    assert only(own("subscribed")) == Subscription(
        channel_id=CHANNEL,
        platform="viber",
        customer=JELENA,
        timestamp_ms=OWN_TS + 13,
        platform_id="5491234567890123470:subscribed",
        action="subscribed",
    )


def test_unsubscribed() -> None:
    """An unsubscription has the user id only."""
    assert only(own("unsubscribed")) == Subscription(
        channel_id=CHANNEL,
        platform="viber",
        customer=Customer(id=JELENA.id),
        timestamp_ms=OWN_TS + 14,
        platform_id="5491234567890123471:unsubscribed",
        action="unsubscribed",
    )


def test_webhook_check_is_ignored() -> None:
    """The set_webhook check callback makes no event."""
    assert own("webhook") == ParseResult(events=[], ignored=[Ignored("viber", "webhook check")])


def test_every_own_fixture_event_survives_the_wire() -> None:
    """Each event from every Viber callback fixture encodes and decodes back unchanged."""
    names = sorted(p.stem for p in (OWN_FIXTURES / "viber").glob("*.json"))
    assert len(names) >= 16
    events = [event for name in names for event in own(name).events]
    assert len(events) == len(names) - 1  # all but the webhook check
    for event in events:
        encoded = encode_event(event)
        assert EVENT_DECODER.decode(encoded) == event
        assert b'"54912345678901234' in encoded


# --- The shared corpus (when ../shared is beside the checkout) ----------------------------

SHARED_CALLBACKS = {
    "viber_callback-delivered_1.json": "status",
    "viber_callback-message-unicode_1.json": "message",
    "viber_callback-seen_1.json": "status",
    "viber_callback-subscribed_1.json": "subscription",
    "viber_callback-unsubscribed_1.json": "subscription",
    "viber_callback-webhook_1.json": None,
}


@pytest.mark.parametrize("name", sorted(SHARED_CALLBACKS))
def test_shared_callback_parses(name: str) -> None:
    """Each callback of the shared corpus becomes its expected event, exact tokens kept."""
    result = parse_viber(shared_bytes(name), CHANNEL)
    kind = SHARED_CALLBACKS[name]
    if kind is None:
        assert result == ParseResult(events=[], ignored=[Ignored("viber", "webhook check")])
        return
    event = only(result)
    assert event.__struct_config__.tag == kind
    encoded = encode_event(event)
    assert EVENT_DECODER.decode(encoded) == event
    assert f'"{TOKEN}'.encode() in encoded


# --- Tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["4912661846655238145", "9007199254740993", "18446744073709551615", "1" * 30]
)
def test_huge_token_is_exact(token: str) -> None:
    """Tokens past 2**53 (and past 2**64) come out digit for digit, never through a float."""
    raw = (
        b'{"event":"delivered","timestamp":1457764197627,"message_token":'
        + token.encode()
        + b',"user_id":"U1="}'
    )
    event = only(parse_viber(raw, CHANNEL))
    assert event.message_ids == (token,)
    assert event.platform_id == f"{token}:delivered"


def test_float_token_is_not_trusted() -> None:
    """A token that arrives as a float has lost digits: the receipt becomes a channel alert."""
    raw = b'{"event":"seen","timestamp":1457764197627,"message_token":4.9e18,"user_id":"U1="}'
    assert only(parse_viber(raw, CHANNEL)) == ChannelAlert(
        channel_id=CHANNEL,
        platform="viber",
        timestamp_ms=TS,
        raw_type="seen",
        reason="receipt without token",
    )


# --- Message types -----------------------------------------------------------------------


def test_text_in_albanian_and_serbian_intact() -> None:
    """ë, ç and ђ arrive unchanged in a raw UTF-8 body."""
    text = "Mirëdita! Sa kushton çanta? Ђурђевдан је."
    assert only(message("text", text=text)) == received(text=text)


def test_media_messages() -> None:
    """Picture, video, file, sticker and url messages become attachments."""
    cases: list[tuple[ParseResult, Attachment]] = [
        (
            message("picture", text="this one", media="https://dl/p.jpg", thumbnail="t"),
            Attachment(type="image", url="https://dl/p.jpg", caption="this one"),
        ),
        (
            message("video", media="https://dl/v.mp4", size=1000, duration=3),
            Attachment(type="video", url="https://dl/v.mp4"),
        ),
        (
            message("file", media="https://dl/f.pdf", file_name="price list.pdf", size=10),
            Attachment(type="file", url="https://dl/f.pdf", filename="price list.pdf"),
        ),
        (
            message("sticker", media="https://dl/s.png", sticker_id=46105),
            Attachment(type="sticker", url="https://dl/s.png", media_id="46105"),
        ),
        (
            message("url", media="https://shop.example/item/7"),
            Attachment(type="url", url="https://shop.example/item/7"),
        ),
    ]
    for result, attachment in cases:
        assert only(result) == received(attachments=(attachment,))


def test_location_and_contact_messages() -> None:
    """A location becomes a Location; a contact card becomes a SharedContact."""
    assert only(message("location", location={"lat": 41.3275, "lon": 19.8187})) == received(
        location=Location(latitude=41.3275, longitude=19.8187)
    )
    assert only(
        message("contact", contact={"name": "Ђорђе", "phone_number": "+381601234567"})
    ) == received(contacts=(SharedContact(name="Ђорђе", phones=("+381601234567",)),))


def test_unsupported_message_type() -> None:
    """A rich_media message is an "unsupported" event in the customer's conversation."""
    assert only(message("rich_media", rich_media={"Type": "rich_media"})) == Unsupported(
        channel_id=CHANNEL,
        platform="viber",
        customer=SENDER,
        timestamp_ms=TS,
        platform_id="5000000000000000001",
        raw_type="rich_media",
        reason="unknown message type",
    )


def test_failed_receipt_carries_the_description() -> None:
    """A failed callback is a failed Status with desc as the error detail, code 0."""
    result = callback(
        event="failed",
        timestamp=TS,
        message_token=int(TOKEN),
        user_id="U1=",
        desc="failure description",
    )
    assert only(result) == Status(
        channel_id=CHANNEL,
        platform="viber",
        customer=Customer(id="U1="),
        timestamp_ms=TS,
        platform_id=f"{TOKEN}:failed",
        status="failed",
        message_ids=(TOKEN,),
        errors=(PlatformError(code=0, detail="failure description"),),
    )


def test_conversation_started() -> None:
    """Opening the chat is a Subscription with its deep-link context and subscribed flag."""
    result = callback(
        event="conversation_started",
        timestamp=TS,
        message_token=int(TOKEN),
        type="open",
        context="spring-sale",
        user={"id": "U2=", "name": "Arbër", "avatar": "https://a/1.jpg", "country": "AL"},
        subscribed=False,
    )
    assert only(result) == Subscription(
        channel_id=CHANNEL,
        platform="viber",
        customer=Customer(id="U2=", name="Arbër", avatar_url="https://a/1.jpg"),
        timestamp_ms=TS,
        platform_id=f"{TOKEN}:conversation_started",
        action="conversation_started",
        context="spring-sale",
        subscribed=False,
    )


# --- Malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"{", b"", b"\xfe\xff", b"[1, 2]", b'"message"', b"7"])
def test_not_a_json_object_raises_payload_error(payload: bytes) -> None:
    """A body that is not a JSON object raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_viber(payload, CHANNEL)


def test_callback_without_event_raises_payload_error() -> None:
    """An object without an event name has no usable structure."""
    with pytest.raises(PayloadError):
        parse_viber(b'{"timestamp": 1457764197627}', CHANNEL)


def test_incomplete_callbacks_still_make_events() -> None:
    """Callbacks naming no user are channel alerts; others are unsupported or use receipt time."""
    alert: dict[str, Any] = {"channel_id": CHANNEL, "platform": "viber"}
    cases: list[tuple[ParseResult, Any]] = [
        (
            callback(event="message", timestamp=TS, message={"type": "text"}),
            ChannelAlert(
                **alert, timestamp_ms=TS, raw_type="message", reason="message without sender"
            ),
        ),
        (
            parse_viber(b'{"event":"delivered","message_token":1,"user_id":"U"}', CHANNEL, 42),
            Status(
                **alert,
                customer=Customer(id="U"),
                timestamp_ms=42,
                platform_id="1:delivered",
                status="delivered",
                message_ids=("1",),
            ),
        ),
        (
            callback(event="seen", timestamp=TS, message_token=1),
            ChannelAlert(
                **alert,
                timestamp_ms=TS,
                raw_type="seen",
                reason="receipt without user",
                platform_id="1:seen",
            ),
        ),
        (
            callback(event="subscribed", timestamp=TS, user="x"),
            ChannelAlert(
                **alert, timestamp_ms=TS, raw_type="subscribed", reason="callback without user"
            ),
        ),
        (
            message("location", location={"lat": "north"}),
            received_unsupported("location", "location without coordinates"),
        ),
        (
            callback(event="client_status", timestamp=TS, user_id="U"),
            Unsupported(
                **alert,
                customer=Customer(id="U"),
                timestamp_ms=TS,
                platform_id="unsupported:client_status:U:1457764197627",
                raw_type="client_status",
                reason="unknown callback",
            ),
        ),
        (
            callback(event="client_status", timestamp=TS),
            ChannelAlert(
                **alert, timestamp_ms=TS, raw_type="client_status", reason="unknown callback"
            ),
        ),
    ]
    for result, event in cases:
        assert only(result) == event


def received_unsupported(raw_type: str, reason: str) -> Unsupported:
    return Unsupported(
        channel_id=CHANNEL,
        platform="viber",
        customer=SENDER,
        timestamp_ms=TS,
        platform_id="5000000000000000001",
        raw_type=raw_type,
        reason=reason,
    )


def test_message_without_token_gets_a_stable_id() -> None:
    """A message lacking its token still gets an id that repeats on retry."""
    body = {
        "event": "message",
        "timestamp": TS,
        "sender": {"id": "U1="},
        "message": {"type": "text", "text": "a"},
    }
    first, second = callback(**body), callback(**body)
    assert first == second
    assert only(first).platform_id == f"message:U1=:{TS}"
