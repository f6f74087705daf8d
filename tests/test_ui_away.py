"""The away reply in the UI: one switch per channel card, and the server's reply marked."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from common.away import DEFAULT_AWAY_MINUTES, AwayChannel
from desktop.core.store import Channel
from desktop.ui.screens.channels import ChannelsScreen
from desktop.ui.widgets.thread import ThreadView
from tests.test_ui_widgets import NOW, _message


def test_each_channel_card_has_an_away_switch(qtbot: QtBot) -> None:
    """Off unless saved on, with its minutes; toggling it or changing the minutes asks for
    that channel's switch to change."""
    screen = ChannelsScreen()
    qtbot.addWidget(screen)
    channels = [
        Channel(id=cid, platform="viber", name=cid, status="connected", detail=None,
                updated_at_ms=NOW)
        for cid in ("ch-1", "ch-2")
    ]  # fmt: skip
    screen.set_channels(channels, {}, None, {"ch-2": AwayChannel(enabled=True, minutes=30)})
    first, second = screen.cards["ch-1"], screen.cards["ch-2"]
    assert not first.away.isChecked() and not first.away_minutes.isEnabled()
    assert first.away_minutes.currentData() == DEFAULT_AWAY_MINUTES
    assert first.away_minutes.currentText() == "10 minutes"
    assert second.away.isChecked() and second.away_minutes.currentData() == 30
    with qtbot.waitSignal(screen.away_changed) as changed:
        first.away.click()
    assert changed.args == ["ch-1", AwayChannel(enabled=True, minutes=DEFAULT_AWAY_MINUTES)]
    assert first.away_minutes.isEnabled()
    hour = first.away_minutes.findData(60)
    assert first.away_minutes.itemText(hour) == "1 hour"
    with qtbot.waitSignal(screen.away_changed) as changed:
        first.away_minutes.setCurrentIndex(hour)  # the owner's pick
        first.away_minutes.activated.emit(hour)
    assert changed.args == ["ch-1", AwayChannel(enabled=True, minutes=60)]


def test_the_servers_reply_is_marked_in_the_thread(qtbot: QtBot) -> None:
    """A reply the relay sent while the shop was away says so, unlike the owner's."""
    view = ThreadView()
    qtbot.addWidget(view)
    server = _message(2, "We are away.", direction="out", author="server", status="sent")
    owner = _message(3, "Back now!", direction="out", author="owner", status="sent")
    view.set_messages(1, [_message(1, "Hello?"), server, owner])
    role = Qt.ItemDataRole.AccessibleTextRole
    texts = [view.messages.index(row, 0).data(role) for row in range(3)]
    assert texts == [
        "Customer: Hello?",
        "Clientora, while you were away: We are away.",
        "You: Back now!",
    ]
