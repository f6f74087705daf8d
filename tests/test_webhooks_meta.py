"""Meta webhook normaliser: recorded Messenger, Instagram and WhatsApp bodies to typed events."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest

from common.channels import Platform
from common.events import (
    EVENT_DECODER,
    Attachment,
    ChannelAlert,
    ConversationWindow,
    Customer,
    CustomerChanged,
    Location,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    OptIn,
    PlatformError,
    PlatformEvent,
    Postback,
    Pricing,
    Reaction,
    SharedContact,
    Status,
    Subscription,
    Unsupported,
    encode_event,
)
from relay.webhooks.meta import ParseResult, PayloadError, parse_meta
from relay.webhooks.parsing import Ignored
from tests.shared_data import OWN_FIXTURES, SHARED_META, fixture_bytes, shared_bytes, shared_fixture

ROUTES: dict[tuple[Platform, str], str] = {
    ("messenger", "111111"): "ch-page",
    ("messenger", "682498302938465"): "ch-page-2",
    ("messenger", "<PAGE_ID>"): "ch-page-3",
    ("messenger", "PAGE-ID"): "ch-page-4",
    ("instagram", "<YOUR_APP_USERS_INSTAGRAM_USER_ID>"): "ch-ig",
    ("instagram", "<INSTAGRAM_SCOPED_ID>"): "ch-ig-2",
    ("whatsapp", "106540352242922"): "ch-wa",
    ("whatsapp", "1122334455667"): "ch-wa-2",
    ("messenger", "1048320001"): "ch-kafe",
    ("instagram", "17841401234"): "ch-kafe-ig",
    ("whatsapp", "1065403522"): "ch-kafe-wa",
}


def resolve(platform: Platform, external_id: str) -> str | None:
    return ROUTES.get((platform, external_id))


def body(obj: str, *entries: Any) -> bytes:
    """A Meta envelope; json.dumps escapes non-ASCII as \\uXXXX, as Meta does."""
    return json.dumps({"object": obj, "entry": list(entries)}).encode()


def page_entry(page: Any, *items: Any, key: str = "messaging") -> dict[str, Any]:
    return {"id": page, "time": 1700000000000, key: list(items)}


def wa_body(value: dict[str, Any], number: str = "106540352242922") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
        **value,
    }
    change = {"field": "messages", "value": value}
    return body("whatsapp_business_account", {"id": "102290129340398", "changes": [change]})


def platform_events(result: ParseResult) -> list[PlatformEvent]:
    events: list[PlatformEvent] = [e for e in result.events if isinstance(e, PlatformEvent)]
    assert len(events) == len(result.events)
    return events


def ids(result: ParseResult) -> list[str | None]:
    return [e.platform_id for e in platform_events(result)]


def reasons(result: ParseResult) -> list[str]:
    return [str(ignored) for ignored in result.ignored]


def only(result: ParseResult) -> Any:
    assert result.ignored == []
    assert len(result.events) == 1
    return result.events[0]


SHEENA = Customer(id="16505551234", name="Sheena Nelson", phone="16505551234")
T0 = 1_700_000_000_000  # ms; small numbers would read as seconds
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


# --- The project's fixtures: Messenger -----------------------------------------------------

KAFE_PAGE = "1048320001"
KAFE_IG = "17841401234"
KAFE_WA = "1065403522"
#: The café's WhatsApp Business Account -> its number's channel (account-level fields).
KAFE_ACCOUNTS = {"2391001": ("ch-kafe-wa",)}
PSID = "6802417395012345"
IGSID = "5301987654321098"
T1 = 1_764_840_000_000  # the fixtures' clock, in ms
ARBER = Customer(id="38349111222", name="Arbër Krasniqi", phone="38349111222")
ARBER_BSUID = "XK.4417725530918262"
M_HEAD: dict[str, Any] = {
    "channel_id": "ch-kafe",
    "platform": "messenger",
    "customer": Customer(id=PSID),
}
IG_HEAD: dict[str, Any] = {
    "channel_id": "ch-kafe-ig",
    "platform": "instagram",
    "customer": Customer(id=IGSID),
}
WA_HEAD: dict[str, Any] = {"channel_id": "ch-kafe-wa", "platform": "whatsapp", "customer": ARBER}


def own(name: str) -> ParseResult:
    """Parse one of the project's webhook fixtures (``"messenger/text"``)."""
    return parse_meta(
        fixture_bytes(f"webhooks/{name}.json"), resolve, None, lambda a: KAFE_ACCOUNTS.get(a, ())
    )


def test_messenger_text() -> None:
    """A Page envelope yields one text message routed by the entry's page id."""
    assert only(own("messenger/text")) == MessageReceived(
        **M_HEAD,
        timestamp_ms=T1 + 1,
        platform_id="m_kafe-001",
        text="Mirëdita! A jeni hapur të dielën?",
    )


def test_messenger_attachments() -> None:
    """Attachments keep their type and payload URL; the message has no text."""
    assert only(own("messenger/attachments")) == MessageReceived(
        **M_HEAD,
        timestamp_ms=T1 + 2,
        platform_id="m_kafe-002",
        attachments=(
            Attachment(type="image", url="https://cdn.fbsbx.example/kafe/photo-1.jpg"),
            Attachment(type="file", url="https://cdn.fbsbx.example/kafe/menu.pdf"),
        ),
    )


def test_messenger_quick_reply() -> None:
    """A quick-reply tap is a message with its text and the developer payload."""
    assert only(own("messenger/quick-reply")) == MessageReceived(
        **M_HEAD,
        timestamp_ms=T1 + 4,
        platform_id="m_kafe-004",
        text="Tavolinë për dy",
        quick_reply="BOOK_TABLE_2",
    )


def test_messenger_echo_is_not_a_received_message() -> None:
    """An echo becomes MessageEcho about its recipient, never a MessageReceived."""
    assert only(own("messenger/echo")) == MessageEcho(
        **M_HEAD,
        timestamp_ms=T1 + 7,
        platform_id="m_kafe-out-2",
        text="Po, nga ora 9 deri 22.",
        app_id="263902037430900",
        metadata="send:7f3a",
    )


def test_messenger_postback_field_value_shape() -> None:
    """The {field, value} postback with user_ref and a string timestamp in seconds parses."""
    assert only(own("messenger/postback-field-value")) == Postback(
        **{**M_HEAD, "customer": Customer(id="kafe-checkbox-7781")},
        timestamp_ms=1_764_840_009_000,
        platform_id="m_kafe-009",
        payload="SHOW_MENU",
        title="Shiko menunë",
    )


def test_messenger_reaction() -> None:
    """A reaction names the reacted-to mid and keeps the emoji."""
    assert only(own("messenger/reaction")) == Reaction(
        **M_HEAD,
        timestamp_ms=T1 + 10,
        platform_id=f"m_kafe-out-2:react:{T1 + 10}",
        message_id="m_kafe-out-2",
        emoji="\u2764\ufe0f",
    )


def test_messenger_read_watermark() -> None:
    """A read receipt is a read Status with the watermark and a customer-scoped id."""
    assert only(own("messenger/read")) == Status(
        **M_HEAD,
        timestamp_ms=T1 + 12,
        platform_id=f"read:{PSID}:{T1 + 7}",
        status="read",
        watermark_ms=T1 + 7,
    )


# --- The project's fixtures: Instagram -----------------------------------------------------


def test_instagram_postback() -> None:
    """An ice-breaker tap on Instagram is a Postback with its mid, title and payload."""
    assert only(own("instagram/postback")) == Postback(
        **IG_HEAD,
        timestamp_ms=T1 + 12,
        platform_id="aWdfZAG1-ig-012",
        payload="ICEBREAKER_HOURS",
        title="Opening hours?",
    )


def test_instagram_reaction() -> None:
    """An Instagram reaction is routed by the IG account id in entry.id."""
    assert only(own("instagram/reaction")) == Reaction(
        **IG_HEAD,
        timestamp_ms=T1 + 13,
        platform_id=f"aWdfZAG1-ig-out-2:react:{T1 + 13}",
        message_id="aWdfZAG1-ig-out-2",
        emoji="\u2764\ufe0f",
    )


def test_instagram_seen() -> None:
    """messaging_seen (read.mid) is a read Status naming that message."""
    assert only(own("instagram/seen")) == Status(
        **IG_HEAD,
        timestamp_ms=T1 + 15,
        platform_id="read:aWdfZAG1-ig-out-2",
        status="read",
        message_ids=("aWdfZAG1-ig-out-2",),
    )


# --- The project's fixtures: WhatsApp ------------------------------------------------------

KAFE_MEDIA = "https://lookaside.fbsbx.example/whatsapp_business/attachments/?mid="


def test_whatsapp_text() -> None:
    """A text message names the contact, uses wa_id as id and phone, and scales seconds."""
    assert only(own("whatsapp/text")) == MessageReceived(
        **WA_HEAD,
        timestamp_ms=T1 + 1000,
        platform_id="wamid.KAFE001",
        text="Përshëndetje, a mund të porosis për nesër?",
    )


def test_whatsapp_image() -> None:
    """An image keeps media id, MIME type, caption and URL in one attachment."""
    assert only(own("whatsapp/image")) == MessageReceived(
        **WA_HEAD,
        timestamp_ms=T1 + 5000,
        platform_id="wamid.KAFE005",
        attachments=(
            Attachment(
                type="image",
                url=KAFE_MEDIA + "880012345",
                media_id="880012345",
                mime_type="image/jpeg",
                caption="Torta për ditëlindje",
            ),
        ),
    )


def test_whatsapp_document() -> None:
    """A document keeps its filename beside media id, MIME type and caption."""
    assert only(own("whatsapp/document")) == MessageReceived(
        **WA_HEAD,
        timestamp_ms=T1 + 6000,
        platform_id="wamid.KAFE006",
        attachments=(
            Attachment(
                type="document",
                url=KAFE_MEDIA + "880012346",
                media_id="880012346",
                mime_type="application/pdf",
                caption="Fatura",
                filename="fatura-12.pdf",
            ),
        ),
    )


def test_whatsapp_location() -> None:
    """A location becomes a Location with all five fields."""
    assert only(own("whatsapp/location")) == MessageReceived(
        **WA_HEAD,
        timestamp_ms=T1 + 10_000,
        platform_id="wamid.KAFE010",
        location=Location(
            latitude=42.6629,
            longitude=21.1655,
            name="Sheshi Skënderbeu",
            address="Prishtinë 10000",
            url="https://maps.example/skenderbeu",
        ),
    )


def test_whatsapp_reaction_removed_is_unreact() -> None:
    """A reaction without an emoji means the customer withdrew it."""
    assert only(own("whatsapp/reaction-removed")) == Reaction(
        **WA_HEAD,
        timestamp_ms=T1 + 16_000,
        platform_id="wamid.KAFE016",
        message_id="wamid.OUT001",
        action="unreact",
    )


WINDOW = ConversationWindow(id="kafe-conv-1", origin="utility", expires_ms=1_764_926_400_000)


def test_whatsapp_status_delivered_and_sent() -> None:
    """Statuses name our wamid and keep pricing; their ids add the status to stay distinct."""
    recipient = Customer(id=ARBER.id, phone=ARBER.phone)
    pricing = Pricing(billable=True, model="PMP", category="utility", type="regular")
    cases: tuple[tuple[Literal["sent", "delivered"], int], ...] = (("sent", 30), ("delivered", 31))
    for name, ts in cases:
        assert only(own(f"whatsapp/status-{name}")) == Status(
            **{**WA_HEAD, "customer": recipient},
            timestamp_ms=T1 + ts * 1000,
            platform_id=f"wamid.OUT001:{name}",
            status=name,
            message_ids=("wamid.OUT001",),
            pricing=pricing,
            conversation=WINDOW if name == "sent" else None,
        )


def test_whatsapp_own_sender_wins_over_a_contradicting_contact() -> None:
    """A revoke from Drita stays hers though the lone contacts entry names Arbër."""
    assert only(own("whatsapp/contacts-contradict")) == MessageDeleted(
        **{**WA_HEAD, "customer": Customer(id="38349333444", phone="38349333444")},
        timestamp_ms=T1 + 24_000,
        platform_id="wamid.KAFE024",
        message_id="wamid.DRITA001",
    )


def test_whatsapp_bsuid_sender_takes_name_from_matching_contact() -> None:
    """With from_user_id the customer is keyed on the BSUID; the matching contact names them."""
    event = only(own("whatsapp/text-bsuid"))
    assert event.customer == Customer(id=ARBER_BSUID, name=ARBER.name, phone=ARBER.phone)


def test_whatsapp_replies_keep_what_they_answer() -> None:
    """Button, list and template-button replies carry the id of the message they answer."""
    assert only(own("whatsapp/button-reply")) == Postback(
        **{**WA_HEAD, "customer": Customer(id=ARBER_BSUID, name=ARBER.name, phone=ARBER.phone)},
        timestamp_ms=T1 + 12_000,
        platform_id="wamid.KAFE012",
        payload="confirm-order-12",
        title="Konfirmo",
        source="button",
        reply_to="wamid.OUT002",
    )
    assert only(own("whatsapp/list-reply")).reply_to == "wamid.OUT003"
    template = only(own("whatsapp/template-button"))
    assert (template.source, template.reply_to) == ("template_button", "wamid.OUT004")


def test_whatsapp_unsupported_keeps_its_errors() -> None:
    """An unsupported message keeps the platform's error code, title and details."""
    assert only(own("whatsapp/unsupported")) == Unsupported(
        **WA_HEAD,
        timestamp_ms=T1 + 22_000,
        platform_id="wamid.KAFE022",
        raw_type="poll",
        reason="unsupported by the platform",
        errors=(
            PlatformError(
                code=131051,
                title="Message type unknown",
                detail="Message type is currently not supported.",
            ),
        ),
    )


def test_whatsapp_edit_to_media_keeps_the_media() -> None:
    """An edit whose new content is an image carries the image and its caption."""
    assert only(own("whatsapp/edit-media")) == MessageEdited(
        **WA_HEAD,
        timestamp_ms=T1 + 19_000,
        platform_id="wamid.KAFE019",
        message_id="wamid.KAFE005",
        text="Torta (foto e re)",
        attachments=(
            Attachment(
                type="image",
                url=KAFE_MEDIA + "880012350",
                media_id="880012350",
                mime_type="image/jpeg",
                caption="Torta (foto e re)",
            ),
        ),
    )


def test_whatsapp_changed_number_relinks_the_customer() -> None:
    """A "changed number" system message names the old customer and the new wa_id."""
    assert only(own("whatsapp/system-changed-number")) == CustomerChanged(
        **{**WA_HEAD, "customer": Customer(id=ARBER.id, phone=ARBER.phone)},
        timestamp_ms=T1 + 23_000,
        platform_id="wamid.KAFE023",
        new_id="38349555666",
        new_phone="38349555666",
        change="user_changed_number",
        detail="User Arbër Krasniqi changed from 38349111222 to 38349555666",
    )


def test_whatsapp_failed_status_and_account_errors() -> None:
    """A failed status keeps its error; errors of a change value become a channel alert."""
    failed = only(own("whatsapp/status-failed"))
    assert failed.status == "failed" and failed.message_ids == ("wamid.OUT005",)
    assert failed.errors == (
        PlatformError(
            code=131047,
            title="Re-engagement message",
            detail="Message failed to send because more than 24 hours have passed since the"
            " customer last replied to this number.",
        ),
    )
    alert = parse_meta(fixture_bytes("webhooks/whatsapp/value-errors.json"), resolve, 42)
    assert only(alert) == ChannelAlert(
        channel_id="ch-kafe-wa",
        platform="whatsapp",
        timestamp_ms=42,
        raw_type="errors",
        reason="account error",
        errors=(
            PlatformError(
                code=130429,
                title="Rate limit hit",
                detail="Cloud API message throughput has been reached.",
            ),
        ),
    )


def test_instagram_iso_timestamps_are_read() -> None:
    """The three Instagram items once lost to ISO-8601 timestamps become their events."""
    assert only(own("instagram/unsent-iso-timestamp")) == MessageDeleted(
        **IG_HEAD,
        timestamp_ms=T1 + 17_000,
        platform_id="aWdfZAG1-ig-005",
        message_id="aWdfZAG1-ig-005",
    )
    assert only(own("instagram/story-mention-echo-iso-timestamp")) == MessageEcho(
        **IG_HEAD,
        timestamp_ms=T1 + 60_000,
        platform_id="aWdfZAG1-ig-out-3",
        attachments=(
            Attachment(
                type="story_mention", url="https://lookaside.fbsbx.example/ig/story-ours.jpg"
            ),
        ),
    )
    assert only(own("instagram/story-reply-iso-timestamp")) == MessageReceived(
        **IG_HEAD,
        timestamp_ms=T1 + 120_000,
        platform_id="aWdfZAG1-ig-022",
        text="wow",
        story_url="https://lookaside.fbsbx.example/ig/story-22.jpg",
        story_id="17920012345678922",
    )


def test_messenger_optin_is_an_opt_in_with_its_token() -> None:
    """A marketing-messages opt-in is an OptIn in the thread, keeping its token and frequency."""
    assert only(own("messenger/optin")) == OptIn(
        **M_HEAD,
        timestamp_ms=T1 + 18,
        platform_id=f"optin:opt_in:{PSID}:{T1 + 18}",
        action="opt_in",
        topic="marketing_messages",
        payload="DAILY_OFFERS",
        frequency="DAILY",
        token="tok-not-a-secret",
    )


def test_whatsapp_first_visit_is_a_conversation_start() -> None:
    """A request_welcome (the chat opened, nothing written yet) starts the conversation."""
    assert only(own("whatsapp/request-welcome")) == Subscription(
        **WA_HEAD,
        timestamp_ms=T1 + 52_000,
        platform_id="wamid.KAFE052",
        action="conversation_started",
    )


def test_missing_timestamps_and_senders() -> None:
    """No timestamp anywhere: the time of receipt; no sender: a channel alert with the mid."""
    result = parse_meta(fixture_bytes("webhooks/messenger/missing-timestamps.json"), resolve, 42)
    assert result.events == [
        MessageReceived(**M_HEAD, timestamp_ms=42, platform_id="m_kafe-030", text="pa orë"),
        ChannelAlert(
            channel_id="ch-kafe",
            platform="messenger",
            timestamp_ms=T1 + 31,
            raw_type="message",
            reason="item without sender",
            platform_id="m_kafe-031",
        ),
    ]
    wa = parse_meta(fixture_bytes("webhooks/whatsapp/missing-fields.json"), resolve, 42)
    assert wa.events == [
        MessageReceived(
            **{**WA_HEAD, "customer": Customer(id=ARBER.id, phone=ARBER.phone)},
            timestamp_ms=42,
            platform_id="wamid.KAFE050",
            text="pa orë",
        ),
        ChannelAlert(
            channel_id="ch-kafe-wa",
            platform="whatsapp",
            timestamp_ms=T1 + 51_000,
            raw_type="status.delivered",
            reason="status without recipient",
            platform_id="wamid.OUT001:delivered",
        ),
    ]


def test_every_own_fixture_makes_events_that_survive_the_wire() -> None:
    """Every Meta fixture of the project makes events, ignores nothing, and round-trips."""
    names = sorted(
        f"{p.parent.name}/{p.stem}"
        for platform in ("messenger", "instagram", "whatsapp")
        for p in (OWN_FIXTURES / "webhooks" / platform).glob("*.json")
    )
    assert len(names) >= 60
    for name in names:
        result = own(name)
        assert result.ignored == [], name
        assert result.events, name
        for event in result.events:
            assert EVENT_DECODER.decode(encode_event(event)) == event


# --- The shared corpus (when ../shared is beside the checkout) ----------------------------


def shared_body(name: str, how: str, page: str = "<PAGE_ID>") -> bytes:
    """A file of the shared corpus as a whole Meta body (some hold one item or entry)."""
    if how == "as_is":
        return shared_bytes(name)
    data = shared_fixture(name)
    if how == "item":
        return body("page", page_entry(page, data))
    if how == "entry":
        return body("page", data)
    return body("page", page_entry(page, data, key="changes"))


@pytest.mark.parametrize("name", sorted(SHARED_META))
def test_shared_payload_becomes_its_events(name: str) -> None:
    """Each payload of the shared corpus parses to its expected kinds and survives the wire."""
    how, kinds = SHARED_META[name]
    result = parse_meta(
        shared_body(name, how, "PAGE-ID" if how == "change" else "<PAGE_ID>"), resolve
    )
    assert result.ignored == []
    assert [e.__struct_config__.tag for e in result.events] == kinds
    for event in result.events:
        assert EVENT_DECODER.decode(encode_event(event)) == event


# --- Batching, routing, malformed input --------------------------------------------------


def _text_item(sender: str, ts: int, mid: str, text: str = "hi") -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": "PAGE"},
        "timestamp": ts,
        "message": {"mid": mid, "text": text},
    }


def test_batch_keeps_body_order_across_entries_and_lists() -> None:
    """Several entries with several messaging, standby and changes items keep body order."""
    routes = {("messenger", "P1"): "ch-1", ("messenger", "P2"): "ch-2"}
    payload = body(
        "page",
        {
            "id": "P1",
            "time": 3,
            "messaging": [_text_item("u1", 30, "m1"), _text_item("u2", 10, "m2")],
            "standby": [_text_item("u3", 20, "m3")],
        },
        {
            "id": "P2",
            "time": 1,
            "changes": [{"field": "messages", "value": _text_item("u4", 5, "m4")}],
            "messaging": [_text_item("u5", 1, "m5")],
        },
        {"id": "P1", "time": 2, "messaging": [_text_item("u6", 2, "m6")]},
    )
    result = parse_meta(payload, lambda p, i: routes.get((p, i)))
    assert result.ignored == []
    assert [(e.channel_id, e.platform_id) for e in platform_events(result)] == [
        ("ch-1", "m1"),
        ("ch-1", "m2"),
        ("ch-1", "m3"),
        ("ch-2", "m4"),
        ("ch-2", "m5"),
        ("ch-1", "m6"),
    ]


def test_unknown_page_is_ignored_and_others_still_parse() -> None:
    """Items of a page we do not serve are ignored one by one, with the page id only."""
    payload = body(
        "page",
        page_entry("123", _text_item("u1", 1, "m1", "secret words"), _text_item("u2", 2, "m2")),
        page_entry("111111", _text_item("u3", 3, "m3")),
    )
    result = parse_meta(payload, resolve)
    assert ids(result) == ["m3"]
    assert reasons(result) == ["messenger: unknown page 123"] * 2
    assert not any("secret" in reason or "u1" in reason for reason in reasons(result))


def test_numeric_entry_id_is_routed() -> None:
    """An entry id sent as a JSON number routes like its string form."""
    result = parse_meta(body("page", page_entry(111111, _text_item("u1", 1, "m1"))), resolve)
    assert only(result).channel_id == "ch-page"


@pytest.mark.parametrize("payload", [b"{not json", b"", b'{"object": "page", "entry": [', b"\xff"])
def test_malformed_json_raises_payload_error(payload: bytes) -> None:
    """A body that is not JSON raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_meta(payload, resolve)


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'"page"', b"42", b"null", b'{"entry": []}', b'{"object": "page", "entry": {}}'],
)
def test_non_object_or_shapeless_json_raises_payload_error(payload: bytes) -> None:
    """JSON that is not an object, or lacks object/entry, raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_meta(payload, resolve)


def test_unknown_object_is_ignored() -> None:
    """A Meta object we do not handle is reported, not raised."""
    result = parse_meta(body("user", {"id": "1", "changes": []}), resolve)
    assert result == ParseResult(events=[], ignored=[Ignored("meta", "unknown object", "user")])


def test_bad_items_of_a_known_page_still_make_events() -> None:
    """Each odd item of a known page makes an event of its own; only page-less ones are ignored.

    An item naming no customer becomes a channel alert, one we cannot show an "unsupported"
    event in the customer's conversation, and a missing timestamp is the time of receipt.
    """
    items: list[Any] = [
        "not an object",
        {"recipient": {"id": "PAGE"}, "timestamp": 1, "message": {"mid": "x", "text": "t"}},
        _text_item("u1", 5, "ok1"),
        {"sender": {"id": "u2"}, "recipient": {"id": "PAGE"}, "reaction": {"emoji": "x"}},
        {"sender": {"id": "u2"}, "timestamp": 7, "optin": {"ref": "r"}},
        {"sender": {"id": "u2"}, "timestamp": 7, "read": {}},
        {"sender": {"id": "u2"}, "timestamp": 7, "message_edit": {"text": "t"}},
        {"sender": {"id": "u2"}, "timestamp": 7},
        {"sender": {"id": "u2"}, "timestamp": 8, "message": {"mid": "m8"}},
        _text_item("u3", 9, "ok2"),
    ]
    entry = {"id": "111111", "messaging": items}  # no entry.time: the receipt time stands in
    result = parse_meta(body("page", entry, "junk", {"id": None, "messaging": []}), resolve, 42)
    head: dict[str, Any] = {"channel_id": "ch-page", "platform": "messenger"}
    u2: dict[str, Any] = {**head, "customer": Customer(id="u2")}
    assert result.events == [
        ChannelAlert(**head, timestamp_ms=42, raw_type="str", reason="item is not an object"),
        ChannelAlert(
            **head,
            timestamp_ms=1000,
            raw_type="message",
            reason="item without sender",
            platform_id="x",
        ),
        MessageReceived(
            **head, customer=Customer(id="u1"), timestamp_ms=5000, platform_id="ok1", text="hi"
        ),
        Unsupported(
            **u2,
            timestamp_ms=42,
            platform_id="unsupported:reaction:u2:42",
            raw_type="reaction",
            reason="reaction without mid",
        ),
        OptIn(
            **u2,
            timestamp_ms=7000,
            platform_id="optin:opt_in:u2:7000",
            action="opt_in",
            topic="plugin",
            payload="r",
        ),
        ChannelAlert(
            **head,
            timestamp_ms=7000,
            raw_type="read",
            reason="receipt without message or watermark",
            platform_id="read:u2:7000",
        ),
        Unsupported(
            **u2,
            timestamp_ms=7000,
            platform_id="unsupported:message_edit:u2:7000",
            raw_type="message_edit",
            reason="edit without mid",
        ),
        Unsupported(
            **u2,
            timestamp_ms=7000,
            platform_id="unsupported:empty:u2:7000",
            raw_type="empty",
            reason="empty item",
        ),
        Unsupported(
            **u2,
            timestamp_ms=8000,
            platform_id="m8",
            raw_type="message",
            reason="message without content",
        ),
        MessageReceived(
            **head, customer=Customer(id="u3"), timestamp_ms=9000, platform_id="ok2", text="hi"
        ),
    ]
    assert reasons(result) == [
        "messenger: entry is not an object",
        "messenger: entry without items",
    ]


def test_wrong_types_inside_a_message_do_not_raise() -> None:
    """Numbers, nulls and lists where strings or objects belong are skipped field by field."""
    item = {
        "sender": {"id": 987654321},
        "timestamp": "1700000000123",
        "message": {
            "mid": 55,
            "text": 12,
            "attachments": [None, {"type": 3, "payload": "x"}],
            "quick_reply": "nope",
            "reply_to": [],
        },
    }
    assert only(parse_meta(body("page", page_entry("111111", item)), resolve)) == MessageReceived(
        channel_id="ch-page",
        platform="messenger",
        customer=Customer(id="987654321"),
        timestamp_ms=1700000000123,
        platform_id="55",
        attachments=(Attachment(type="unknown"),),
    )


def test_item_without_timestamp_uses_entry_time() -> None:
    """An item missing its timestamp takes the entry's time."""
    item = {"sender": {"id": "u1"}, "message": {"mid": "m1", "text": "x"}}
    event = only(parse_meta(body("page", page_entry("111111", item)), resolve))
    assert event.timestamp_ms == 1700000000000


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-12-04T09:20:19Z", 1_764_840_019_000),
        ("2025-12-04T09:20:19.250+00:00", 1_764_840_019_250),
        ("2025-12-04T10:20:19+01:00", 1_764_840_019_000),
        ("2025-12-04T09:20:19", 1_764_840_019_000),
        ("1764840019", 1_764_840_019_000),
        (1764840019250, 1_764_840_019_250),
        ("soon", 42),
        (None, 42),
        ([], 42),
        (-5, 42),
    ],
)
def test_odd_timestamps_are_read_or_fall_back_to_receipt(stamp: Any, expected: int) -> None:
    """ISO-8601 strings are read; a missing or unreadable timestamp is the time of receipt."""
    item = {"sender": {"id": "u1"}, "timestamp": stamp, "message": {"mid": "m1", "text": "x"}}
    entry = {"id": "111111", "time": "whenever", "messaging": [item]}
    assert only(parse_meta(body("page", entry), resolve, 42)).timestamp_ms == expected


def test_cyrillic_and_albanian_text_intact() -> None:
    """Albanian ë, ç and Serbian ђ survive both \\u-escaped and raw UTF-8 bodies."""
    text = "Përshëndetje, a keni çanta? Ђорђе пита: има ли ђон?"
    escaped = body("page", page_entry("111111", _text_item("u1", 1, "m1", text)))
    assert b"\\u00eb" in escaped
    utf8 = json.dumps(
        {"object": "page", "entry": [page_entry("111111", _text_item("u1", 1, "m1", text))]},
        ensure_ascii=False,
    ).encode()
    for payload in (escaped, utf8):
        assert only(parse_meta(payload, resolve)).text == text


# --- More Messenger / Instagram shapes ---------------------------------------------------


def _ig(*items: Any) -> bytes:
    return body("instagram", page_entry("<YOUR_APP_USERS_INSTAGRAM_USER_ID>", *items))


def _ig_head(n: int) -> dict[str, Any]:
    return {
        "sender": {"id": "IGSID"},
        "recipient": {"id": "<YOUR_APP_USERS_INSTAGRAM_USER_ID>"},
        "timestamp": T0 + n,
    }


def test_instagram_message_shapes() -> None:
    """Story replies, inline replies, ad referrals, unsent, unsupported and edits map."""
    items = [
        {
            **_ig_head(1),
            "message": {
                "mid": "m1",
                "text": "nice",
                "reply_to": {"story": {"url": "https://cdn/s.mp4", "id": 17}},
            },
        },
        {**_ig_head(2), "message": {"mid": "m2", "text": "yes", "reply_to": {"mid": "m0"}}},
        {
            **_ig_head(3),
            "message": {
                "mid": "m3",
                "text": "price?",
                "referral": {
                    "ad_id": "9",
                    "source": "ADS",
                    "type": "OPEN_THREAD",
                    "ads_context_data": {"ad_title": "Summer sale"},
                },
            },
        },
        {**_ig_head(4), "message": {"mid": "m1", "is_deleted": True}},
        {**_ig_head(5), "message": {"mid": "m5", "is_unsupported": True}},
        {**_ig_head(6), "message_edit": {"mid": "m2", "text": "yes!", "num_edit": 1}},
        {**_ig_head(7), "message": {"mid": "m7", "text": "me", "is_self": True}},
    ]
    result = parse_meta(_ig(*items), resolve)
    common: dict[str, Any] = {
        "channel_id": "ch-ig",
        "platform": "instagram",
        "customer": Customer(id="IGSID"),
    }
    assert result.events == [
        MessageReceived(
            **common,
            timestamp_ms=T0 + 1,
            platform_id="m1",
            text="nice",
            story_url="https://cdn/s.mp4",
            story_id="17",
        ),
        MessageReceived(**common, timestamp_ms=T0 + 2, platform_id="m2", text="yes", reply_to="m0"),
        MessageReceived(
            **common, timestamp_ms=T0 + 3, platform_id="m3", text="price?", referral="Summer sale"
        ),
        MessageDeleted(**common, timestamp_ms=T0 + 4, platform_id="m1", message_id="m1"),
        Unsupported(
            **common,
            timestamp_ms=T0 + 5,
            platform_id="m5",
            raw_type="message",
            reason="unsupported by the platform",
        ),
        MessageEdited(
            **common, timestamp_ms=T0 + 6, platform_id="m2:edit:1", message_id="m2", text="yes!"
        ),
        Unsupported(
            **common,
            timestamp_ms=T0 + 7,
            platform_id="m7",
            raw_type="message",
            reason="message to self",
        ),
    ]
    assert result.ignored == []


def test_instagram_echo_on_messages_field() -> None:
    """An Instagram echo (is_echo on the messages field) is about the recipient."""
    item = {
        "sender": {"id": "<YOUR_APP_USERS_INSTAGRAM_USER_ID>"},
        "recipient": {"id": "IGSID"},
        "timestamp": T0 + 9,
        "message": {"mid": "e1", "text": "Thanks!", "is_echo": True},
    }
    assert only(parse_meta(_ig(item), resolve)) == MessageEcho(
        channel_id="ch-ig",
        platform="instagram",
        customer=Customer(id="IGSID"),
        timestamp_ms=T0 + 9,
        platform_id="e1",
        text="Thanks!",
    )


def test_reaction_unreact_and_name_only() -> None:
    """Unreact drops the emoji; a reaction given only by name gets its emoji."""
    items = [
        {**_ig_head(1), "reaction": {"mid": "m1", "action": "unreact"}},
        {**_ig_head(2), "reaction": {"mid": "m1", "action": "react", "reaction": "like"}},
    ]
    head: dict[str, Any] = {
        "channel_id": "ch-ig",
        "platform": "instagram",
        "customer": Customer(id="IGSID"),
        "message_id": "m1",
    }
    assert parse_meta(_ig(*items), resolve).events == [
        Reaction(**head, timestamp_ms=T0 + 1, platform_id=f"m1:unreact:{T0 + 1}", action="unreact"),
        Reaction(**head, timestamp_ms=T0 + 2, platform_id=f"m1:react:{T0 + 2}", emoji="👍"),
    ]


def test_messenger_delivery_and_referral_only() -> None:
    """Deliveries carry mids and watermark; a lone referral is a text-less message."""
    items = [
        {
            "sender": {"id": "u1"},
            "timestamp": T0 + 50,
            "delivery": {"mids": ["a", "b"], "watermark": 1458668856253},
        },
        {"sender": {"id": "u2"}, "timestamp": T0 + 51, "delivery": {"watermark": 1458668856253}},
        {
            "sender": {"id": "u1"},
            "timestamp": T0 + 52,
            "referral": {"ref": "spring", "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    ]
    result = parse_meta(body("page", page_entry("111111", *items)), resolve)
    head: dict[str, Any] = {"channel_id": "ch-page", "platform": "messenger"}
    assert result.events == [
        Status(
            **head,
            customer=Customer(id="u1"),
            timestamp_ms=T0 + 50,
            platform_id="delivered:u1:1458668856253",
            status="delivered",
            message_ids=("a", "b"),
            watermark_ms=1458668856253,
        ),
        Status(
            **head,
            customer=Customer(id="u2"),
            timestamp_ms=T0 + 51,
            platform_id="delivered:u2:1458668856253",
            status="delivered",
            watermark_ms=1458668856253,
        ),
        MessageReceived(
            **head,
            customer=Customer(id="u1"),
            timestamp_ms=T0 + 52,
            platform_id=f"referral:u1:{T0 + 52}",
            referral="spring",
        ),
    ]


def test_sticker_sent_twice_is_kept_once() -> None:
    """During Meta's sticker transition the duplicate image attachment is dropped."""
    url = "https://cdn/sticker.png"
    item = _text_item("u1", 1, "m1")
    item["message"] = {
        "mid": "m1",
        "sticker_id": 369239263222822,
        "attachments": [
            {"type": "image", "payload": {"url": url, "sticker_id": 369239263222822}},
            {"type": "sticker", "payload": {"url": url}},
        ],
    }
    event = only(parse_meta(body("page", page_entry("111111", item)), resolve))
    assert event.attachments == (Attachment(type="sticker", url=url),)


def test_change_that_is_not_messaging_is_ignored() -> None:
    """A feed change in a Page entry is reported by field name, not parsed."""
    change = {"field": "feed", "value": {"item": "comment", "message": "hello"}}
    result = parse_meta(body("page", page_entry("111111", change, key="changes")), resolve)
    assert result == ParseResult(
        events=[], ignored=[Ignored("messenger", "not a messaging field", "feed")]
    )


def test_retries_produce_identical_ids() -> None:
    """Parsing the same body twice yields the same platform ids, so retries dedupe."""
    payload = fixture_bytes("webhooks/messenger/batched.json")
    assert parse_meta(payload, resolve) == parse_meta(payload, resolve)


# --- More WhatsApp shapes ----------------------------------------------------------------


def _wa_msg(mid: str, kind: str, ts: str = "1700000000", **fields: Any) -> dict[str, Any]:
    return {"from": "16505551234", "id": mid, "timestamp": ts, "type": kind, **fields}


CONTACTS = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]


def test_whatsapp_message_types() -> None:
    """Each WhatsApp message type maps to its event, in body order."""
    messages = [
        _wa_msg(
            "w1",
            "video",
            context={"forwarded": True},
            video={"id": "77", "mime_type": "video/mp4", "caption": "look"},
        ),
        _wa_msg("w2", "audio", audio={"id": "78", "mime_type": "audio/ogg", "voice": True}),
        _wa_msg("w3", "sticker", sticker={"id": "79", "mime_type": "image/webp"}),
        _wa_msg(
            "w4",
            "contacts",
            contacts=[
                {
                    "name": {"first_name": "Chandler", "last_name": "Bing"},
                    "phones": [{"phone": "+1 555-555-5555", "type": "CELL"}],
                    "emails": [{"email": "c@example.com"}],
                },
                {"phones": [{"wa_id": "972987654321"}]},
            ],
        ),
        _wa_msg(
            "w5",
            "interactive",
            interactive={"type": "list_reply", "list_reply": {"id": "row-2", "title": "Blue"}},
        ),
        _wa_msg("w6", "button", button={"payload": "STOP", "text": "Stop promotions"}),
        _wa_msg("w7", "reaction", reaction={"message_id": "wamid.out", "emoji": "😮"}),
        _wa_msg("w8", "reaction", reaction={"message_id": "wamid.out"}),
        _wa_msg("w9", "revoke", revoke={"original_message_id": "w1"}),
        _wa_msg(
            "w10",
            "edit",
            edit={
                "original_message_id": "w2",
                "message": {"type": "image", "image": {"caption": "new caption"}},
            },
        ),
        _wa_msg(
            "w11",
            "text",
            context={"from": "15550783881", "id": "wamid.ours"},
            text={"body": "replied"},
            referral={"source_url": "https://fb.me/ad", "headline": "Sale"},
        ),
        _wa_msg("w12", "order", order={"catalog_id": "1"}),
        _wa_msg(
            "w13",
            "unsupported",
            unsupported={"type": "poll"},
            errors=[{"code": 131051, "title": "Message type unknown"}],
        ),
        _wa_msg("w14", "interactive", interactive={"type": "nfm_reply"}),
        _wa_msg("w15", "system", system={"body": "changed", "type": "user_changed_number"}),
        _wa_msg("w16", "location", location={"latitude": "x"}),
    ]
    result = parse_meta(wa_body({"contacts": CONTACTS, "messages": messages}), resolve)
    head: dict[str, Any] = {
        "channel_id": "ch-wa",
        "platform": "whatsapp",
        "customer": SHEENA,
        "timestamp_ms": 1700000000000,
    }
    ua: dict[str, Any] = {**head}
    assert result.events == [
        MessageReceived(
            **head,
            platform_id="w1",
            forwarded=True,
            attachments=(
                Attachment(type="video", media_id="77", mime_type="video/mp4", caption="look"),
            ),
        ),
        MessageReceived(
            **head,
            platform_id="w2",
            attachments=(Attachment(type="audio", media_id="78", mime_type="audio/ogg"),),
        ),
        MessageReceived(
            **head,
            platform_id="w3",
            attachments=(Attachment(type="sticker", media_id="79", mime_type="image/webp"),),
        ),
        MessageReceived(
            **head,
            platform_id="w4",
            contacts=(
                SharedContact(
                    name="Chandler Bing", phones=("+1 555-555-5555",), emails=("c@example.com",)
                ),
                SharedContact(name="972987654321", phones=("972987654321",)),
            ),
        ),
        Postback(**head, platform_id="w5", payload="row-2", title="Blue", source="list"),
        Postback(
            **head,
            platform_id="w6",
            payload="STOP",
            title="Stop promotions",
            source="template_button",
        ),
        Reaction(**head, platform_id="w7", message_id="wamid.out", emoji="😮"),
        Reaction(**head, platform_id="w8", message_id="wamid.out", action="unreact"),
        MessageDeleted(**head, platform_id="w9", message_id="w1"),
        MessageEdited(
            **head,
            platform_id="w10",
            message_id="w2",
            text="new caption",
            attachments=(Attachment(type="image", caption="new caption"),),
        ),
        MessageReceived(
            **head,
            platform_id="w11",
            text="replied",
            reply_to="wamid.ours",
            referral="https://fb.me/ad",
        ),
        Unsupported(**ua, platform_id="w12", raw_type="order", reason="unknown message type"),
        Unsupported(
            **ua,
            platform_id="w13",
            raw_type="poll",
            reason="unsupported by the platform",
            errors=(PlatformError(code=131051, title="Message type unknown"),),
        ),
        Unsupported(
            **ua,
            platform_id="w14",
            raw_type="interactive.nfm_reply",
            reason="unknown interactive reply",
        ),
        Unsupported(
            **ua,
            platform_id="w15",
            raw_type="system.user_changed_number",
            reason="system message",
            text="changed",
        ),
        Unsupported(
            **ua, platform_id="w16", raw_type="location", reason="location without coordinates"
        ),
    ]
    assert result.ignored == []


def test_whatsapp_username_user_has_bsuid_and_no_phone() -> None:
    """With wa_id empty the customer is keyed on from_user_id and has no phone."""
    contacts = [
        {"profile": {"name": "Pablo", "username": "@pablo"}, "wa_id": "", "user_id": "US.1"}
    ]
    message = {
        "from": "",
        "from_user_id": "US.1",
        "id": "w1",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "hola"},
    }
    event = only(parse_meta(wa_body({"contacts": contacts, "messages": [message]}), resolve))
    assert event.customer == Customer(id="US.1", name="Pablo")


def test_whatsapp_failed_status_and_value_errors() -> None:
    """A failed status carries its errors; an unknown status and value-level errors are alerts."""
    status = {
        "id": "wamid.out",
        "status": "failed",
        "timestamp": "1700000001",
        "recipient_id": "16505551234",
        "recipient_user_id": "US.7",
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "More than 24 hours have passed."},
            }
        ],
    }
    value = {
        "statuses": [status, {**status, "status": "deleted"}],
        "errors": [{"code": 130429, "title": "Rate limit hit"}],
    }
    result = parse_meta(wa_body(value), resolve, 42)
    assert result.events == [
        Status(
            channel_id="ch-wa",
            platform="whatsapp",
            customer=Customer(id="US.7", phone="16505551234"),
            timestamp_ms=1700000001000,
            platform_id="wamid.out:failed",
            status="failed",
            message_ids=("wamid.out",),
            errors=(
                PlatformError(
                    code=131047,
                    title="Re-engagement message",
                    detail="More than 24 hours have passed.",
                ),
            ),
        ),
        ChannelAlert(
            channel_id="ch-wa",
            platform="whatsapp",
            timestamp_ms=1700000001000,
            raw_type="status.deleted",
            reason="unknown status",
            platform_id="wamid.out:deleted",
        ),
        ChannelAlert(
            channel_id="ch-wa",
            platform="whatsapp",
            timestamp_ms=42,
            raw_type="errors",
            reason="account error",
            errors=(PlatformError(code=130429, title="Rate limit hit"),),
        ),
    ]
    assert result.ignored == []


def test_whatsapp_statuses_of_one_message_are_distinct() -> None:
    """sent, delivered and read of one wamid get three different platform ids."""
    statuses = [
        {"id": "w", "status": s, "timestamp": "1", "recipient_id": "1"}
        for s in ("sent", "delivered", "read", "played")
    ]
    assert ids(parse_meta(wa_body({"statuses": statuses}), resolve)) == [
        "w:sent",
        "w:delivered",
        "w:read",
        "w:played",
    ]


def test_whatsapp_unknown_number_other_fields_and_echoes() -> None:
    """Unknown numbers and other fields are ignored; smb_message_echoes become echoes."""
    unknown = {
        "field": "messages",
        "value": {
            "metadata": {"phone_number_id": "999"},
            "messages": [_wa_msg("w1", "text", text={"body": "private"})],
        },
    }
    account = {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    echoes = {
        "field": "smb_message_echoes",
        "value": {
            "metadata": {"phone_number_id": "106540352242922"},
            "message_echoes": [
                {
                    "from": "15550783881",
                    "to": "+16505551234",
                    "id": "wamid.echo",
                    "timestamp": "1739321024",
                    "type": "text",
                    "text": {"body": "Here's the info"},
                }
            ],
        },
    }
    payload = body(
        "whatsapp_business_account", {"id": "1", "changes": [unknown, account, echoes]}, {"id": "2"}
    )
    result = parse_meta(payload, resolve)
    assert result.events == [
        MessageEcho(
            channel_id="ch-wa",
            platform="whatsapp",
            customer=Customer(id="16505551234", phone="16505551234"),
            timestamp_ms=1739321024000,
            platform_id="wamid.echo",
            text="Here's the info",
        )
    ]
    assert reasons(result) == [
        "whatsapp: unknown number 999",
        "whatsapp: unknown account 1",
        "whatsapp: entry without changes",
    ]


def test_whatsapp_odd_messages_still_make_events() -> None:
    """A message naming nobody is a channel alert; no timestamp means the time of receipt."""
    messages: list[Any] = [
        7,
        {"id": "w1", "timestamp": "1", "type": "text", "text": {"body": "x"}},
        _wa_msg("w2", "text", ts="soon", text={"body": "x"}),
        _wa_msg("w3", "text", text={"body": "fine"}),
        _wa_msg("w4", "reaction", reaction={}),
    ]
    # Two contacts: the one without an id cannot be guessed for a sender-less message.
    contacts = [*CONTACTS, {"profile": {"name": "Other"}, "wa_id": "1"}]
    result = parse_meta(wa_body({"contacts": contacts, "messages": messages}), resolve, 42)
    head: dict[str, Any] = {"channel_id": "ch-wa", "platform": "whatsapp"}
    assert result.events == [
        ChannelAlert(
            **head, timestamp_ms=42, raw_type="messages", reason="messages item is not an object"
        ),
        ChannelAlert(
            **head,
            timestamp_ms=1000,
            raw_type="text",
            reason="message without sender",
            platform_id="w1",
        ),
        MessageReceived(**head, customer=SHEENA, timestamp_ms=42, platform_id="w2", text="x"),
        MessageReceived(
            **head, customer=SHEENA, timestamp_ms=1700000000000, platform_id="w3", text="fine"
        ),
        Unsupported(
            **head,
            customer=SHEENA,
            timestamp_ms=1700000000000,
            platform_id="w4",
            raw_type="reaction",
            reason="reaction without message_id",
        ),
    ]
    assert result.ignored == []
