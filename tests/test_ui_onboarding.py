"""Connect with Facebook and channel health from the channels screen: the real engine, the real
relay and the fake Graph; the browser is an HTTP client following Meta's redirect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QUrl
from pytestqt.qtbot import QtBot

from common.channels import Platform
from common.health import ChannelHealth, HealthCheck
from common.onboarding import MetaAsset
from desktop.core.store import Channel
from desktop.ui.main_window import MainWindow
from desktop.ui.screens.channels import ChannelCard, ChannelsScreen
from desktop.ui.widgets.connect_dialog import ConnectDialog
from desktop.ui.widgets.meta_connect import MetaConnectDialog
from desktop.ui.workspace import Workspace
from tests.engine_helpers import open_engine
from tests.fakes.graph import FakeGraph, graph_error
from tests.fakes.server import ServedApp
from tests.meta_helpers import (
    IG_ID,
    KAFE_PAGE,
    PHONE_ID,
    RelayHandle,
    browse,
    graph,
    kafe_owner,
    strict_meta_relay,
)
from tests.qt_helpers import open_local_engine, qloop, qsettings, wait_for
from tests.relay_helpers import messenger_text, post_meta

__all__ = ["graph", "qloop", "qsettings"]

FakeGraphServer = tuple[FakeGraph, ServedApp]
KAFE = f"messenger:{KAFE_PAGE}"
INSTAGRAM = f"instagram:{IG_ID}"
WHATSAPP = f"whatsapp:{PHONE_ID}"


class SystemBrowser:
    """The system browser as the app sees it: it remembers each address it was asked to open."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, url: QUrl) -> bool:
        self.opened.append(url.toString(QUrl.ComponentFormattingOption.FullyEncoded))
        return True


@pytest.fixture
def onboarding_relay(tmp_path: Path, graph: FakeGraphServer) -> Iterator[RelayHandle]:
    """A relay set up for Connect with Facebook, with strict redirect URIs at Meta."""
    with strict_meta_relay(tmp_path / "relay", graph) as handle:
        yield handle


@pytest.fixture
def system_browser() -> SystemBrowser:
    return SystemBrowser()


@pytest.fixture
def workspace(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    qsettings: QSettings,
    onboarding_relay: RelayHandle,
    system_browser: SystemBrowser,
) -> Iterator[Workspace]:
    """The app signed up to the relay, with no channel yet, on the channels screen."""
    engine = wait_for(
        qtbot, open_engine(tmp_path / "desktop", onboarding_relay.url, connect_page=False)
    )
    window = MainWindow(qsettings)
    window.show()
    workspace = Workspace(engine, window, qsettings)
    workspace.channels.open_url = system_browser
    workspace.channels.meta_poll_s = 0.05
    wait_for(qtbot, workspace.enter())
    try:
        with qtbot.waitSignal(workspace.channels.loaded, timeout=10_000):
            window.show_screen("channels")
        yield workspace
    finally:
        wait_for(qtbot, workspace.close(), timeout_ms=30_000)
        window.close()
        window.deleteLater()


def _start(qtbot: QtBot, ws: Workspace, system_browser: SystemBrowser) -> MetaConnectDialog:
    """Press Connect with Facebook; return the dialog once the browser was asked to open."""
    seen = len(system_browser.opened)
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as opened:
        ws.channels_screen.meta_button.click()
    dialog = opened.args[0]
    assert isinstance(dialog, MetaConnectDialog)
    qtbot.waitUntil(lambda: len(system_browser.opened) > seen, timeout=15_000)
    assert dialog.stage == "waiting"
    return dialog


def _sign_in_at_facebook(
    qtbot: QtBot, dialog: MetaConnectDialog, system_browser: SystemBrowser
) -> None:
    """The owner finishes in the browser; the picker appears."""
    page, callback = browse(system_browser.opened[-1])
    assert callback is not None and page.status_code == 200, page.text
    qtbot.waitUntil(lambda: dialog.stage == "picking", timeout=15_000)


def _card(ws: Workspace, platform: str) -> ChannelCard:
    return next(c for c in ws.channels_screen.cards.values() if c.channel.platform == platform)


def test_connect_with_facebook_from_the_button_to_a_working_channel(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, onboarding_relay: RelayHandle
) -> None:
    """The button opens Facebook in the browser, the picker lists what was shared, the picks
    become channel cards with their health, and a signed webhook reaches the inbox."""
    ws = workspace
    screen = ws.channels_screen
    assert screen.empty.isVisibleTo(screen)
    dialog = _start(qtbot, ws, system_browser)
    assert "/dialog/oauth?" in system_browser.opened[-1]
    _sign_in_at_facebook(qtbot, dialog, system_browser)
    assert set(dialog.boxes) == {KAFE, INSTAGRAM, WHATSAPP}
    assert "Kafe Prishtina" in dialog.boxes[KAFE].text()
    # The Page where Arta may only analyse is left out, and the picker says so.
    assert dialog.warnings.isVisibleTo(dialog) and "left out" in dialog.warnings.text()
    assert not dialog.connect_button.isEnabled()
    dialog.boxes[KAFE].click()
    dialog.boxes[WHATSAPP].click()
    assert dialog.picks() == [KAFE, WHATSAPP]
    dialog.connect_button.click()
    assert dialog.stage == "connecting" and not dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=15_000)
    qtbot.waitUntil(lambda: len(screen.cards) == 2, timeout=10_000)
    assert screen.banner.kind == "success" and "connected" in screen.banner.text
    messenger = _card(ws, "messenger")
    assert messenger.name.text() == "Kafe Prishtina"
    assert messenger.badge.text() == "Connected"
    qtbot.waitUntil(lambda: _card(ws, "messenger").health.health is not None, timeout=10_000)
    health = _card(ws, "messenger").health
    assert "Access ✓" in health.summary.text() and "Webhooks ✓" in health.summary.text()
    assert not health.fix_button.isVisibleTo(health)
    assert health.check_button.isVisibleTo(health)

    now = time.time_ns() // 1_000_000
    webhook = messenger_text(KAFE_PAGE, "PSID-77", "m-77", "A keni tavolinë për dy?", now)
    assert post_meta(onboarding_relay.url, webhook).status_code == 200
    qtbot.waitUntil(lambda: ws.inbox.proxy.rowCount() == 1, timeout=20_000)
    conversation = ws.inbox.proxy.conversation(0)
    assert conversation is not None and conversation.channel_id == messenger.channel.id


def test_a_cancelled_login_is_explained_and_trying_again_works(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, graph: FakeGraphServer
) -> None:
    """The owner closes Facebook's window: the dialog says so in plain words and nothing is
    connected; Try again starts a fresh login that reaches the picker."""
    ws = workspace
    meta = graph[0].meta
    assert meta is not None
    meta.sign_in(kafe_owner(decision="cancel"))
    dialog = _start(qtbot, ws, system_browser)
    browse(system_browser.opened[-1])
    qtbot.waitUntil(lambda: dialog.stage == "start", timeout=15_000)
    assert dialog.banner.kind == "error"
    assert "cancelled the Facebook sign-in" in dialog.banner.text
    assert "Traceback" not in dialog.banner.text
    assert wait_for(qtbot, ws.engine.store.channels()) == []
    meta.sign_in(kafe_owner())
    dialog.login_button.click()
    qtbot.waitUntil(lambda: len(system_browser.opened) == 2, timeout=15_000)
    _sign_in_at_facebook(qtbot, dialog, system_browser)
    assert not dialog.banner.isVisibleTo(dialog)
    dialog.reject()
    assert not ws.channels_screen.cards


def test_missing_permissions_are_explained(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, graph: FakeGraphServer
) -> None:
    """Permissions switched off in Facebook's window: the dialog names the problem and what
    to do, and no channel appears."""
    meta = graph[0].meta
    assert meta is not None
    meta.sign_in(kafe_owner(scopes=("public_profile", "pages_show_list")))
    dialog = _start(qtbot, workspace, system_browser)
    browse(system_browser.opened[-1])
    qtbot.waitUntil(lambda: dialog.stage == "start", timeout=15_000)
    assert dialog.banner.kind == "error"
    assert "nothing it can connect" in dialog.banner.text
    dialog.reject()
    assert wait_for(qtbot, workspace.engine.store.channels()) == []


def test_cancel_while_waiting_stops_and_connects_nothing(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser
) -> None:
    """Cancel in the waiting state closes the dialog and stops waiting; finishing in the
    browser afterwards connects nothing."""
    ws = workspace
    dialog = _start(qtbot, ws, system_browser)
    assert dialog.cancel_button.isEnabled()
    dialog.cancel_button.click()
    assert not dialog.isVisible()
    page, _ = browse(system_browser.opened[-1])
    assert page.status_code == 200
    assert wait_for(qtbot, ws.engine.store.channels()) == []
    assert not ws.channels_screen.cards


def test_a_refused_subscription_connects_nothing(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, graph: FakeGraphServer
) -> None:
    """Facebook refuses the webhook subscription: the picker says why, nothing is connected,
    and the owner can pick again."""
    ws = workspace
    meta = graph[0].meta
    assert meta is not None
    meta.fail_subscription(
        KAFE_PAGE, graph_error(200, "(#200) The user must be an administrator of the Page")
    )
    dialog = _start(qtbot, ws, system_browser)
    _sign_in_at_facebook(qtbot, dialog, system_browser)
    dialog.boxes[KAFE].click()
    dialog.boxes[WHATSAPP].click()
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.banner.isVisibleTo(dialog), timeout=15_000)
    assert dialog.stage == "picking" and dialog.isVisible()
    assert "Nothing was connected" in dialog.banner.text
    assert "Kafe Prishtina" in dialog.banner.text
    assert dialog.connect_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert wait_for(qtbot, ws.engine.store.channels()) == []
    dialog.reject()
    assert not ws.channels_screen.cards


def _connect_kafe(qtbot: QtBot, ws: Workspace, system_browser: SystemBrowser) -> ChannelCard:
    dialog = _start(qtbot, ws, system_browser)
    _sign_in_at_facebook(qtbot, dialog, system_browser)
    dialog.boxes[KAFE].click()
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: len(ws.channels_screen.cards) == 1, timeout=15_000)
    qtbot.waitUntil(lambda: _card(ws, "messenger").health.health is not None, timeout=10_000)
    return _card(ws, "messenger")


def test_a_revoked_token_shows_reconnect_and_reconnecting_repairs_it(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, graph: FakeGraphServer
) -> None:
    """Graph answers 190 for the Page's token: Check now turns the card to Reconnect, which
    signs in with Facebook again with the Page already picked, and the card is healthy."""
    ws = workspace
    meta = graph[0].meta
    assert meta is not None
    card = _connect_kafe(qtbot, ws, system_browser)
    channel_id = card.channel.id
    meta.revoke("EAAG-kafe-page-token-0001")
    card.health.check_button.click()
    assert card.health.check_button.text() == "Checking…"
    qtbot.waitUntil(
        lambda: ws.channels_screen.cards[channel_id].health.fix == "reconnect", timeout=15_000
    )
    qtbot.waitUntil(
        lambda: ws.channels_screen.cards[channel_id].badge.text() == "Token expired",
        timeout=15_000,
    )
    card = ws.channels_screen.cards[channel_id]
    assert card.health.fix_button.isVisibleTo(card)
    assert card.health.fix_button.text() == "Reconnect"

    meta.sign_in(kafe_owner(page_token="EAAG-kafe-page-token-0002"))
    seen = len(system_browser.opened)
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as opened:
        card.health.fix_button.click()
    dialog = opened.args[0]
    assert isinstance(dialog, MetaConnectDialog)
    assert "Reconnect Kafe Prishtina" in dialog.windowTitle()
    qtbot.waitUntil(lambda: len(system_browser.opened) > seen, timeout=15_000)
    _sign_in_at_facebook(qtbot, dialog, system_browser)
    assert dialog.picks() == [KAFE]
    assert "reconnects it" in dialog.boxes[KAFE].toolTip()
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=15_000)
    qtbot.waitUntil(
        lambda: ws.channels_screen.cards[channel_id].badge.text() == "Connected", timeout=15_000
    )
    qtbot.waitUntil(lambda: ws.channels_screen.cards[channel_id].health.fix is None, timeout=15_000)
    assert len(ws.channels_screen.cards) == 1


def test_a_lost_subscription_shows_resubscribe_and_it_repairs_it(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser, graph: FakeGraphServer
) -> None:
    """The app was removed from the Page in Meta's settings: Check now offers Resubscribe,
    which subscribes again and the card is healthy."""
    ws = workspace
    meta = graph[0].meta
    assert meta is not None
    card = _connect_kafe(qtbot, ws, system_browser)
    channel_id = card.channel.id
    meta.drop_subscription(KAFE_PAGE)
    card.health.check_button.click()
    # The channel's status can offer the fix before the check's report (and its words) lands.
    qtbot.waitUntil(
        lambda: "Resubscribe" in ws.channels_screen.cards[channel_id].health.attention.text(),
        timeout=15_000,
    )
    card = ws.channels_screen.cards[channel_id]
    assert card.health.fix == "resubscribe"
    assert card.health.fix_button.text() == "Resubscribe"
    card.health.fix_button.click()
    qtbot.waitUntil(lambda: ws.channels_screen.cards[channel_id].health.fix is None, timeout=15_000)
    assert meta.subscribed_fields(KAFE_PAGE)
    qtbot.waitUntil(
        lambda: ws.channels_screen.cards[channel_id].badge.text() == "Connected", timeout=15_000
    )
    assert ws.channels_screen.banner.kind == "success"


def test_the_manual_form_stays_for_developers(
    qtbot: QtBot, workspace: Workspace, system_browser: SystemBrowser
) -> None:
    """Ids and tokens can still be entered by hand: from the screen and from the dialog."""
    ws = workspace
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as opened:
        ws.channels_screen.manual_button.click()
    form = opened.args[0]
    assert isinstance(form, ConnectDialog) and form.current_platform == "messenger"
    form.reject()
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as viber:
        ws.channels_screen.connect_button.click()
    assert viber.args[0].current_platform == "viber"
    viber.args[0].reject()
    dialog = _start(qtbot, ws, system_browser)
    dialog.cancel_button.click()
    dialog.failed("Facebook could not complete the sign-in.")
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as manual:
        dialog.manual_button.click()
    assert isinstance(manual.args[0], ConnectDialog)
    manual.args[0].reject()


def test_a_relay_without_a_meta_app_says_so(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    qsettings: QSettings,
    system_browser: SystemBrowser,
) -> None:
    """Running on this computer, the built-in relay has no Meta app: the dialog says so in
    plain words, offers no "Try again", no browser opens, and pasting ids and tokens is
    offered."""
    engine = open_local_engine(qtbot, tmp_path)
    window = MainWindow(qsettings)
    window.show()
    ws = Workspace(engine, window, qsettings)
    ws.channels.open_url = system_browser
    try:
        wait_for(qtbot, ws.enter())
        ws.first_run.shop.setText("Butiku Arta")
        ws.first_run.local_button.click()
        qtbot.waitUntil(lambda: ws.window.current_screen == "inbox", timeout=30_000)
        ws.window.show_screen("channels")
        with qtbot.waitSignal(ws.channels.dialog_opened, timeout=10_000) as opened:
            ws.channels_screen.meta_button.click()
        dialog = opened.args[0]
        assert isinstance(dialog, MetaConnectDialog)
        qtbot.waitUntil(lambda: dialog.stage == "start", timeout=15_000)
        assert dialog.banner.kind == "warning"
        assert "not set up on your Clientora server" in dialog.banner.text
        for jargon in ("relay", "operator", "app id"):
            assert jargon not in dialog.banner.text.lower()
        assert not dialog.login_button.isVisibleTo(dialog)  # trying again cannot help
        assert dialog.manual_button.isVisibleTo(dialog)
        assert system_browser.opened == []
        dialog.reject()
    finally:
        wait_for(qtbot, ws.close(), timeout_ms=30_000)
        window.close()
        window.deleteLater()


# ---- the widgets alone ------------------------------------------------------------------


def _asset(platform: Platform, external_id: str, name: str, **extra: object) -> MetaAsset:
    return MetaAsset(
        id=f"{platform}:{external_id}",
        platform=platform,
        external_id=external_id,
        name=name,
        **extra,  # type: ignore[arg-type]
    )


def test_the_picker_groups_assets_and_needs_a_pick(qtbot: QtBot) -> None:
    """Pages, Instagram accounts and numbers are listed under their kind; Connect waits for a
    pick and sends the picked ids; a browser that did not open shows the address to copy."""
    dialog = MetaConnectDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_waiting("https://www.facebook.com/dialog/oauth?state=abc", opened=False)
    assert dialog.link.isVisibleTo(dialog)
    assert "state=abc" in dialog.link.text()
    assets = [
        _asset("whatsapp", "1065", "Kafe Prishtina", detail="+383 44 123 456"),
        _asset("messenger", "1048", "Kafe Prishtina", connected=True),
        _asset("instagram", "1784", "kafeprishtina", detail="@kafeprishtina"),
    ]
    dialog.set_assets(assets, ["1 Page was left out."], preselect=lambda a: a.connected)
    assert list(dialog.boxes) == ["messenger:1048", "instagram:1784", "whatsapp:1065"]
    assert dialog.picks() == ["messenger:1048"]
    assert "+383 44 123 456" in dialog.boxes["whatsapp:1065"].text()
    dialog.boxes["messenger:1048"].click()
    assert not dialog.connect_button.isEnabled()
    dialog.boxes["whatsapp:1065"].click()
    with qtbot.waitSignal(dialog.connect_requested) as requested:
        dialog.connect_button.click()
    assert requested.args == [["whatsapp:1065"]]
    assert dialog.stage == "connecting"
    dialog.reject()  # ignored while connecting: the relay finishes all or nothing
    assert dialog.isVisible()
    dialog.connect_failed("Facebook did not accept the subscription. Nothing was connected.")
    assert dialog.boxes["whatsapp:1065"].isEnabled() and dialog.connect_button.isEnabled()
    with qtbot.waitSignal(dialog.login_requested):
        dialog.banner.action_clicked.emit()


def test_a_card_offers_the_fix_its_health_asks_for(qtbot: QtBot) -> None:
    """A card shows its status's fix at once, then the relay's checks: problems in words,
    the rest in one line, and the fix button asks for that fix."""
    screen = ChannelsScreen()
    qtbot.addWidget(screen)
    channel = Channel(
        id="ch-wa",
        platform="whatsapp",
        name="+383 44 123 456",
        status="webhook_failing",
        detail=None,
        updated_at_ms=1_764_400_000_000,
    )
    screen.set_channels([channel], {}, None)
    card = screen.cards["ch-wa"]
    assert card.badge.text() == "Not receiving"
    assert card.health.fix == "resubscribe"
    now = 1_764_400_000_000
    health = ChannelHealth(
        channel_id="ch-wa",
        platform="whatsapp",
        name="+383 44 123 456",
        status="needs_reconnect",
        checks=[
            HealthCheck(
                name="token",
                state="problem",
                message="WhatsApp no longer accepts this channel's access. Reconnect it.",
                action="reconnect",
            ),
            HealthCheck(name="subscription", state="ok", message="Subscribed."),
            HealthCheck(name="events", state="ok", message="Last event.", checked_at_ms=now),
            HealthCheck(name="sends", state="unknown", message="No reply sent yet."),
        ],
        actions=["reconnect"],
    )
    with qtbot.waitSignal(screen.fix_requested) as asked:
        screen.set_health(health, now)
        assert card.health.fix_button.text() == "Reconnect"
        assert "no longer accepts" in card.health.attention.text()
        assert "Webhooks ✓" in card.health.summary.text()
        assert "Last message" in card.health.summary.text()
        card.health.fix_button.click()
    assert asked.args == ["ch-wa", "reconnect"]
    with qtbot.waitSignal(screen.check_requested) as check:
        card.health.check_button.click()
    assert check.args == ["ch-wa"]
    # Rebuilt for a new status, the card does not show health that disagrees with it.
    screen.set_channels([channel], {}, None)
    assert screen.cards["ch-wa"].health.fix == "resubscribe"
