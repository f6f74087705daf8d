"""Webhook events the app must show: unsupported items, changed numbers, edits to media,
channel alerts on the channel and opt-ins and handovers as notes in the conversation."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from common.events import (
    ChannelAlert,
    ChannelChanged,
    Customer,
    CustomerChanged,
    Event,
    MessageEdited,
    MessageReceived,
    PlatformError,
    Unsupported,
)
from common.protocol import EventFrame
from desktop.core.store import Change, Channel, ChannelsChanged, NewDraft, Store
from desktop.ui.hub import ChangeSet
from desktop.ui.main_window import MainWindow
from desktop.ui.screens.channels import ChannelsScreen
from desktop.ui.workspace import Workspace
from relay.webhooks.meta import parse_meta
from relay.webhooks.viber import parse_viber
from tests.qt_helpers import open_local_engine, qloop, qsettings, wait_for
from tests.shared_data import fixture_bytes

__all__ = ["qloop", "qsettings"]

T0 = 1_764_840_000_000
_seq = itertools.count(1)
ARBER = Customer(id="38349111222", name="Arbër Krasniqi", phone="38349111222")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "desktop.db")
    await opened.set_identity("biz-1", "device-1")
    try:
        yield opened
    finally:
        await opened.close()


async def apply(store: Store, *events: Event) -> None:
    frames = []
    for event in events:
        seq = next(_seq)
        frames.append(EventFrame(seq=seq, id=f"ev-{seq}", stored_at_ms=T0, event=event))
    await store.apply_events(frames)


def parsed(name: str) -> list[Event]:
    """The events the relay makes of one of the project's fixtures (both platforms' ids
    route to CH1, the café's WhatsApp Business Account too)."""
    routes = {("whatsapp", "1065403522"): "CH1", ("messenger", "1048320001"): "CH1"}
    body = fixture_bytes(f"webhooks/{name}.json")
    return parse_meta(
        body,
        lambda platform, key: routes.get((platform, key)),
        T0,
        lambda account: ("CH1",) if account == "2391001" else (),
    ).events


async def test_unsupported_item_is_a_message_to_open_in_the_platform(store: Store) -> None:
    """An unsupported event lands in the customer's conversation, unread, marked for the app."""
    await apply(store, *parsed("whatsapp/unsupported"))
    (conversation,) = await store.list_conversations()
    assert conversation.customer.name == "Arbër Krasniqi"
    assert conversation.unread == 1
    (message,) = await store.messages(conversation.id)
    assert message.direction == "in" and message.platform_id == "wamid.KAFE022"
    assert (message.extras.unsupported, message.extras.open_in) == ("poll", "whatsapp")


async def test_changed_number_keeps_the_conversation(store: Store) -> None:
    """After a "changed number" system message, the new number's messages join the old thread."""
    await apply(store, *parsed("whatsapp/text"), *parsed("whatsapp/system-changed-number"))
    later = MessageReceived(
        channel_id="CH1",
        platform="whatsapp",
        customer=Customer(id="38349555666", name="Arbër Krasniqi", phone="38349555666"),
        timestamp_ms=T0 + 60_000,
        platform_id="wamid.NEW1",
        text="Ky është numri im i ri",
    )
    await apply(store, later)
    (conversation,) = await store.list_conversations()
    assert conversation.customer.phone == "38349555666"
    texts = [m.text for m in await store.messages(conversation.id)]
    assert texts == ["Përshëndetje, a mund të porosis për nesër?", "Ky është numri im i ri"]


async def test_changed_number_that_is_already_a_customer_changes_nothing(store: Store) -> None:
    """If the new id already has its own thread, the two are not merged behind the owner."""
    other = MessageReceived(
        channel_id="CH1",
        platform="whatsapp",
        customer=Customer(id="38349555666"),
        timestamp_ms=T0,
        platform_id="wamid.X",
        text="tjetër",
    )
    change = CustomerChanged(
        channel_id="CH1",
        platform="whatsapp",
        customer=ARBER,
        timestamp_ms=T0 + 1,
        platform_id="wamid.C",
        new_id="38349555666",
        change="user_changed_number",
    )
    await apply(store, *parsed("whatsapp/text"), other, change)
    assert len(await store.list_conversations()) == 2


async def test_edit_to_media_replaces_the_media(store: Store) -> None:
    """A WhatsApp edit whose new content is an image brings that image and its caption."""
    await apply(store, *parsed("whatsapp/image"), *parsed("whatsapp/edit-media"))
    (conversation,) = await store.list_conversations()
    (message,) = await store.messages(conversation.id)
    assert message.text == "Torta (foto e re)"
    assert [a.media_id for a in message.attachments] == ["880012350"]
    assert message.edited_at_ms is not None


async def test_text_edit_keeps_the_media(store: Store) -> None:
    """An edit with text only (a caption) leaves the message's media as it was."""
    image, edit = parsed("whatsapp/image")[0], parsed("whatsapp/edit-media")[0]
    assert isinstance(edit, MessageEdited)
    caption_only = MessageEdited(
        channel_id=edit.channel_id,
        platform=edit.platform,
        customer=edit.customer,
        timestamp_ms=edit.timestamp_ms,
        platform_id=edit.platform_id,
        message_id=edit.message_id,
        text="vetëm titulli",
    )
    await apply(store, image, caption_only)
    (conversation,) = await store.list_conversations()
    (message,) = await store.messages(conversation.id)
    assert message.text == "vetëm titulli"
    assert [a.media_id for a in message.attachments] == ["880012345"]


async def test_channel_alert_is_accepted_and_touches_no_conversation(store: Store) -> None:
    """An account-level alert is stored by the relay; the app takes it without a thread."""
    alert = ChannelAlert(
        channel_id="CH1",
        platform="whatsapp",
        timestamp_ms=T0,
        raw_type="errors",
        reason="account error",
        errors=(PlatformError(code=130429, title="Rate limit hit"),),
    )
    unsupported = Unsupported(
        channel_id="CH1",
        platform="whatsapp",
        customer=ARBER,
        timestamp_ms=T0,
        platform_id="wamid.U",
        raw_type="order",
        reason="unknown message type",
        text="4 kroasanë",
    )
    await apply(store, alert, unsupported)
    (conversation,) = await store.list_conversations()
    (message,) = await store.messages(conversation.id)
    assert message.text == "4 kroasanë" and message.attachments == ()
    assert message.extras.unsupported == "order"


CONNECTED = ChannelChanged(
    timestamp_ms=T0, channel_id="CH1", platform="whatsapp", status="connected"
)


async def test_channel_alerts_stay_on_the_channel_and_serious_ones_are_announced(
    store: Store,
) -> None:
    """A rejected template is kept on its channel and announced; a later informational notice
    neither hides it nor is announced; a newer problem replaces it."""
    seen: list[Change] = []
    store.changes.subscribe(seen.extend)
    await apply(store, CONNECTED, *parsed("whatsapp/template-rejected"))
    (channel,) = await store.channels()
    rejected = (
        "WhatsApp: Template oferta_e_javes (sq) rejected — invalid format."
        " The body has too many variables for its length."
    )
    assert (channel.alert, channel.alert_level) == (rejected, "problem")
    assert channel.alert_at_ms == 1_764_840_074_000
    assert ChannelsChanged(alert=rejected) in seen
    seen.clear()
    await apply(store, *parsed("whatsapp/account-review"))
    (channel,) = await store.channels()
    assert channel.alert == rejected
    assert not any(isinstance(c, ChannelsChanged) and c.alert for c in seen)
    await apply(store, *parsed("whatsapp/value-errors"))  # no time of its own: the receipt's
    await apply(store, *parsed("whatsapp/account-update-violation"))
    (channel,) = await store.channels()
    assert channel.alert == "WhatsApp: Account violation for scam"
    assert await store.list_conversations() == []


async def test_opt_ins_and_handovers_are_notes_that_wake_no_one(store: Store) -> None:
    """A marketing opt-out and a handover are notes in the customer's thread: not unread,
    not withdrawing the pending draft, and not a turn the assistant would answer."""
    await apply(store, *parsed("whatsapp/text"))
    (conversation,) = await store.list_conversations()
    (first,) = await store.messages(conversation.id)
    draft = await store.add_draft(
        NewDraft(
            conversation_id=conversation.id,
            for_message_id=first.id,
            text="Po, jemi hapur.",
            drafter="extractive",
        )
    )
    await apply(store, *parsed("whatsapp/user-preferences-stop"))
    (after,) = await store.list_conversations()
    assert after.unread == conversation.unread
    messages = await store.messages(conversation.id)
    note = messages[-1]
    assert (note.kind, note.author, note.direction) == ("note", "platform", "in")
    assert note.text == "The customer stopped marketing messages."
    assert [d.id for d in await store.pending_drafts()] == [draft.id]
    await apply(store, *parsed("whatsapp/user-preferences-stop"))  # a replayed event
    assert len(await store.messages(conversation.id)) == len(messages)


async def test_messenger_notes_say_what_happened(store: Store) -> None:
    """Each opt-in and handover fixture becomes one plain sentence in the thread."""
    names = ["optin", "optin-one-time", "optin-stop", "handover-pass", "handover-request"]
    for name in names:
        await apply(store, *parsed(f"messenger/{name}"))
    (conversation,) = await store.list_conversations()
    assert [m.text for m in await store.messages(conversation.id)] == [
        "The customer agreed to receive marketing messages, daily.",
        "The customer agreed to receive one notification (Kur të vijë torta).",
        "The customer stopped marketing messages (Ofertat ditore).",
        "The conversation was passed to another app: customer asked for a person.",
        "Another app asks to take over this conversation: a new order.",
    ]
    assert conversation.unread == 0


def test_the_channel_card_shows_the_alert_in_its_health(qtbot: QtBot) -> None:
    """The channels screen shows a channel's latest alert, marked by level, in its health
    row; a channel without one shows none."""
    screen = ChannelsScreen()
    qtbot.addWidget(screen)
    flagged = Channel(
        id="CH1",
        platform="whatsapp",
        name="+383 44 123 456",
        status="connected",
        detail=None,
        updated_at_ms=T0,
        alert="WhatsApp: +38344123456: flagged (limit TIER_250)",
        alert_level="warning",
        alert_at_ms=T0,
    )
    calm = Channel(
        id="CH2", platform="viber", name="Viber", status="connected", detail=None, updated_at_ms=T0
    )
    screen.set_channels([flagged, calm], {}, None)
    alert = screen.cards["CH1"].health.alert
    assert alert.isVisibleTo(screen.cards["CH1"])
    assert alert.text().startswith("! WhatsApp: +38344123456: flagged (limit TIER_250) (")
    assert not screen.cards["CH2"].health.alert.isVisibleTo(screen.cards["CH2"])


def test_announced_alerts_reach_the_apps_change_set() -> None:
    """The change set the screens get lists each announced alert (the app shows the last)."""
    changes = ChangeSet()
    changes.add(ChannelsChanged())
    changes.add(ChannelsChanged(alert="WhatsApp: Account violation for scam"))
    assert changes.channels and changes.alerts == ["WhatsApp: Account violation for scam"]


async def test_a_viber_reply_keeps_what_our_send_attached(store: Store) -> None:
    """A Viber message's tracking_data is kept with the message (which menu it answers)."""
    body = fixture_bytes("viber/message-text.json")
    (event,) = parse_viber(body, "CH1", T0).events
    await apply(store, event)
    (conversation,) = await store.list_conversations()
    (message,) = await store.messages(conversation.id)
    assert message.extras.callback_data == "menu-v2"


def test_a_serious_alert_is_said_in_the_app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, qsettings: QSettings
) -> None:
    """A channel alert the store takes from the stream reaches the window's banner (through
    the store's change feed and the app's change hub), naming the channel's screen."""
    engine = open_local_engine(qtbot, tmp_path)
    window = MainWindow(qsettings)
    window.show()
    workspace = Workspace(engine, window, qsettings)
    wait_for(qtbot, workspace.enter())
    try:
        workspace.first_run.shop.setText("Kafe Prishtina")
        workspace.first_run.local_button.click()
        qtbot.waitUntil(lambda: window.current_screen == "inbox", timeout=30_000)
        channel_id = engine.channels.test_channel_id
        assert channel_id is not None
        alert = ChannelAlert(
            channel_id=channel_id,
            platform="webchat",
            timestamp_ms=T0,
            raw_type="errors",
            reason="account error",
            level="problem",
            detail="Sending is paused.",
        )
        frame = EventFrame(seq=10**9, id="alert-1", stored_at_ms=T0, event=alert)
        # The relay's own event about the test channel comes first, as it always does.
        qtbot.waitUntil(lambda: bool(wait_for(qtbot, engine.store.channels())), timeout=10_000)
        wait_for(qtbot, engine.store.apply_events([frame]))
        qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
        assert window.banner.text == "Web chat: Sending is paused. See Channels."
        assert window.banner.kind == "warning"
    finally:
        wait_for(qtbot, workspace.close(), timeout_ms=30_000)
        window.close()
        window.deleteLater()
