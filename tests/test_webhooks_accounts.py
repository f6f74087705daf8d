"""Opt-ins, handover, account-level WhatsApp fields and what sends carry back, parsed.

Also the rule behind "nothing dropped in silence": every place the webhook readers
ignore an item is listed here with why it belongs to no account of ours.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from common.channels import Platform
from common.events import (
    EVENT_DECODER,
    ChannelAlert,
    ConversationWindow,
    Customer,
    Handover,
    OptIn,
    Status,
    encode_event,
)
from relay.webhooks.meta import ParseResult, parse_meta
from tests.shared_data import fixture_bytes

ROUTES: dict[tuple[Platform, str], str] = {
    ("messenger", "1048320001"): "ch-kafe",
    ("whatsapp", "1065403522"): "ch-kafe-wa",
}
#: The café's WhatsApp Business Account holds two of our numbers.
ACCOUNTS: dict[str, tuple[str, ...]] = {"2391001": ("ch-kafe-wa", "ch-kafe-wa-2")}
T1 = 1_764_840_000_000
PSID = "6802417395012345"
M_HEAD: dict[str, Any] = {
    "channel_id": "ch-kafe",
    "platform": "messenger",
    "customer": Customer(id=PSID),
}
ARBER = Customer(id="38349111222", name="Arbër Krasniqi", phone="38349111222")
WA_HEAD: dict[str, Any] = {"channel_id": "ch-kafe-wa", "platform": "whatsapp", "customer": ARBER}


def parse(name: str, accounts: dict[str, tuple[str, ...]] = ACCOUNTS) -> ParseResult:
    result = parse_meta(
        fixture_bytes(f"webhooks/{name}.json"),
        lambda platform, key: ROUTES.get((platform, key)),
        42,
        lambda account: accounts.get(account, ()),
    )
    for event in result.events:
        assert EVENT_DECODER.decode(encode_event(event)) == event
    return result


def only(result: ParseResult) -> Any:
    assert result.ignored == []
    assert len(result.events) == 1
    return result.events[0]


def alerts(result: ParseResult) -> list[tuple[str, str, str, str | None]]:
    """(channel, reason, level, detail) of each alert; every event must be one."""
    assert result.ignored == []
    found = [e for e in result.events if isinstance(e, ChannelAlert)]
    assert found == result.events
    return [(a.channel_id, a.reason, a.level, a.detail) for a in found]


# --- Messenger opt-ins and handover --------------------------------------------------------


def test_one_time_notification_opt_in_keeps_its_token() -> None:
    """A one-time notification request is an OptIn whose token the Send API can use."""
    assert only(parse("messenger/optin-one-time")) == OptIn(
        **M_HEAD,
        timestamp_ms=T1 + 60,
        platform_id=f"optin:opt_in:{PSID}:{T1 + 60}",
        action="opt_in",
        topic="one_time_notification",
        title="Kur të vijë torta",
        payload="CAKE_BACK",
        token="otn-kafe-60",
    )


def test_stopped_marketing_messages_are_an_opt_out() -> None:
    """STOP_NOTIFICATIONS is an opt-out; the token and its expiry are kept."""
    assert only(parse("messenger/optin-stop")) == OptIn(
        **M_HEAD,
        timestamp_ms=T1 + 61,
        platform_id=f"optin:opt_out:{PSID}:{T1 + 61}",
        action="opt_out",
        topic="marketing_messages",
        title="Ofertat ditore",
        payload="DAILY_OFFERS",
        frequency="DAILY",
        token="tok-kafe-61",
        token_expires_ms=1_772_616_061_000,
    )


def test_handover_items_say_who_holds_the_thread() -> None:
    """Pass, take and request thread control become Handover events naming both apps."""
    inbox, ours = "263902037430900", "1517776481860111"
    got = [only(parse(f"messenger/handover-{a}")) for a in ("pass", "take", "request")]
    assert got == [
        Handover(
            **M_HEAD,
            timestamp_ms=T1 + 62,
            platform_id=f"handover:pass:{PSID}:{T1 + 62}",
            action="pass",
            from_app=ours,
            to_app=inbox,
            metadata="customer asked for a person",
        ),
        Handover(
            **M_HEAD,
            timestamp_ms=T1 + 63,
            platform_id=f"handover:take:{PSID}:{T1 + 63}",
            action="take",
            from_app=inbox,
            to_app=ours,
            metadata="back to the assistant",
        ),
        Handover(
            **M_HEAD,
            timestamp_ms=T1 + 64,
            platform_id=f"handover:request:{PSID}:{T1 + 64}",
            action="request",
            to_app=ours,
            metadata="a new order",
        ),
    ]


def test_app_roles_and_policy_enforcement_are_channel_alerts() -> None:
    """Items about the Page, not a customer, reach the owner as alerts on the channel."""
    assert alerts(parse("messenger/app-roles")) == [
        (
            "ch-kafe",
            "app roles changed",
            "info",
            "app 1517776481860111: primary_receiver; app 263902037430900: secondary_receiver",
        )
    ]
    assert alerts(parse("messenger/policy-enforcement")) == [
        (
            "ch-kafe",
            "policy enforcement",
            "problem",
            "The Page sent messages that break the Messenger Platform policies.",
        )
    ]


# --- WhatsApp: what a send carries back ----------------------------------------------------


def test_status_carries_its_conversation_and_callback_data() -> None:
    """A status keeps its conversation (id, origin, expiry) and biz_opaque_callback_data."""
    assert only(parse("whatsapp/status-read-callback")) == Status(
        **{**WA_HEAD, "customer": Customer(id=ARBER.id, phone=ARBER.phone)},
        timestamp_ms=T1 + 70_000,
        platform_id="wamid.OUT002:read",
        status="read",
        message_ids=("wamid.OUT002",),
        conversation=ConversationWindow(
            id="kafe-conv-2", origin="free_entry_point", expires_ms=T1 + 259_200_000
        ),
        callback_data="order-7781",
    )


def test_marketing_preferences_are_opt_ins_in_the_customers_conversation() -> None:
    """user_preferences stop/resume become OptIn events on that customer, with the words."""
    stop, resume = (only(parse(f"whatsapp/user-preferences-{v}")) for v in ("stop", "resume"))
    assert stop == OptIn(
        **WA_HEAD,
        timestamp_ms=T1 + 71_000,
        platform_id=f"prefs:{ARBER.id}:{T1 + 71_000}:stop",
        action="opt_out",
        topic="marketing_messages",
        detail="User requested to stop marketing messages",
    )
    assert (resume.action, resume.customer, resume.platform_id) == (
        "opt_in",
        ARBER,
        f"prefs:{ARBER.id}:{T1 + 72_000}:resume",
    )


# --- WhatsApp: account-level fields, keyed by the Business Account -------------------------

BOTH = ("ch-kafe-wa", "ch-kafe-wa-2")


def test_template_updates_reach_every_number_of_the_account() -> None:
    """Template status and quality alert each channel of the account, at their level."""
    cases = {
        "whatsapp/template-approved": (
            "template status",
            "info",
            "Template porosia_gati (sq) approved",
        ),
        "whatsapp/template-rejected": (
            "template status",
            "problem",
            "Template oferta_e_javes (sq) rejected — invalid format."
            " The body has too many variables for its length.",
        ),
        "whatsapp/template-quality": (
            "template quality",
            "warning",
            "Template oferta_e_javes (sq) quality green → red",
        ),
    }
    for name, (reason, level, detail) in cases.items():
        assert alerts(parse(name)) == [(c, reason, level, detail) for c in BOTH], name


def test_account_and_number_notices_become_alerts() -> None:
    """Quality, updates, security and reviews alert the account's channels; an alert about
    one number (by its id) goes to that number's channel only."""
    cases = {
        "whatsapp/phone-quality": (
            BOTH,
            "number quality",
            "warning",
            "+38344123456: flagged (limit TIER_250)",
        ),
        "whatsapp/account-alert": (
            ("ch-kafe-wa",),
            "account alert",
            "warning",
            "Please reupload your profile picture",
        ),
        "whatsapp/account-update-violation": (
            BOTH,
            "account update",
            "problem",
            "Account violation for scam",
        ),
        "whatsapp/security": (
            BOTH,
            "security notice",
            "warning",
            "+38344123456: pin reset request",
        ),
        "whatsapp/account-review": (BOTH, "account review", "info", "Account review: approved"),
    }
    for name, (channels, reason, level, detail) in cases.items():
        assert alerts(parse(name)) == [(c, reason, level, detail) for c in channels], name


def test_account_alerts_keep_the_platforms_id_so_retries_dedupe() -> None:
    """The same body twice makes the same platform ids (the relay keeps one of each)."""
    first, again = parse("whatsapp/template-rejected"), parse("whatsapp/template-rejected")
    ids = [e.platform_id for e in first.events if isinstance(e, ChannelAlert)]
    assert ids == [e.platform_id for e in again.events if isinstance(e, ChannelAlert)]
    assert ids[0] == "message_template_status_update:1764840074:REJECTED:806312974732580"


def test_a_list_of_a_newer_kind_still_reaches_the_channel() -> None:
    """Items under a key this relay does not know (a newer kind) are alerts, not dropped."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "1065403522"},
        "contacts": [{"wa_id": "38349111222"}],
        "calls": [{"id": "call-1"}, {"id": "call-2"}],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "2391001", "changes": [{"field": "messages", "value": value}]}],
    }
    result = parse_meta(
        json.dumps(body).encode(), lambda platform, key: ROUTES.get((platform, key)), 42
    )
    assert result.ignored == []
    assert (
        result.events
        == [
            ChannelAlert(
                channel_id="ch-kafe-wa",
                platform="whatsapp",
                timestamp_ms=42,
                raw_type="calls",
                reason="unknown item kind",
            )
        ]
        * 2
    )


def test_an_unknown_account_is_ignored_and_named() -> None:
    """An account-level field of a Business Account we do not hold belongs to nobody."""
    result = parse("whatsapp/template-approved", accounts={})
    assert result.events == []
    assert [str(i) for i in result.ignored] == ["whatsapp: unknown account 2391001"]


# --- Nothing dropped in silence --------------------------------------------------------------

#: Every reason a webhook reader may ignore an item for, and why that item is no one's.
WHY_NOBODYS: dict[str, str] = {
    "unknown object": "a Meta object other than page, instagram or whatsapp_business_account",
    "entry is not an object": "it names no account at all",
    "entry without items": "an entry with nothing in it: nothing to drop",
    "entry without changes": "an entry with nothing in it: nothing to drop",
    "change without field": "no field: neither a number's nor an account's",
    "change without items": "a known number's change holding nothing to show",
    "not a messaging field": "Page feed, comments, insights: the relay never subscribes",
    "unknown page": "a Page no business of ours has connected",
    "unknown account": "an Instagram or WhatsApp Business account no business has connected",
    "unknown number": "a WhatsApp number no business has connected",
    "webhook check": "Viber's own check of the webhook address, no user or message",
}


def _ignored_reasons() -> set[str]:
    """The reason of every ``Ignored(...)`` written in relay/webhooks, read from the source."""
    root = Path(__file__).resolve().parents[1] / "relay" / "webhooks"
    reasons: set[str] = set()
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Ignored"
            ):
                continue
            reason = node.args[1]
            if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                reasons.add(reason.value)
            elif isinstance(reason, ast.JoinedStr):
                # f"unknown {owner}": each value owner can take.
                head = "".join(
                    str(part.value) for part in reason.values if isinstance(part, ast.Constant)
                )
                reasons.update(f"{head}{owner}" for owner in ("page", "account"))
            else:
                raise AssertionError(f"{path.name}:{node.lineno}: a reason must be written out")
    return reasons


def test_every_ignored_item_is_an_unknown_account_or_nobodys() -> None:
    """Each place a reader ignores an item has a reason listed here with why it is no one's;
    a new one fails until it is justified (or, better, made an event)."""
    assert _ignored_reasons() == set(WHY_NOBODYS)
