"""The channels screen: each connected channel as a card with its health and its mode."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from common.away import DEFAULT_AWAY_MINUTES, AwayChannel
from desktop.core.autopilot import ChannelPolicy, Mode
from desktop.core.relay_client import ChannelHealth
from desktop.core.store import Channel
from desktop.ui.icons import channel_icon
from desktop.ui.text import PLATFORM_NAMES
from desktop.ui.widgets.channel_health import HealthRow
from desktop.ui.widgets.common import Banner, EmptyState, button, guard_wheel, label

__all__ = ["META_PLATFORMS", "TWO_COLUMNS", "ChannelCard", "ChannelsScreen", "status_words"]

#: The cards go side by side from this width of the list (a 1440-pixel window).
TWO_COLUMNS = 1160

#: Platforms connected by signing in with Facebook (the others take a pasted token).
META_PLATFORMS = frozenset({"messenger", "instagram", "whatsapp"})

_MODES: tuple[tuple[Mode, str, str], ...] = (
    ("manual", "Manual", "Every reply waits for your approval."),
    ("auto", "Auto", "Confident, grounded replies go out on their own; the rest wait for you."),
    (
        "shadow",
        "Shadow",
        "The assistant drafts silently and learns how often it agrees with"
        " what you send. Nothing is sent or shown as a draft.",
    ),
)


def status_words(
    status: str, detail: str | None, platform: str | None = None
) -> tuple[str, str, str]:
    """(badge text, badge kind, what to do) for a channel's health."""
    match status:
        case "connected" | "healthy":
            return "Connected", "success", detail or ""
        case "needs_reconnect":
            how = (
                "Press Reconnect and sign in with Facebook again."
                if platform in META_PLATFORMS
                else "Press Reconnect and paste a new token."
            )
            return (
                "Token expired",
                "danger",
                detail or f"The platform no longer accepts this connection. {how}",
            )
        case "webhook_failing":
            return (
                "Not receiving",
                "warning",
                detail
                or (
                    "Messages are not arriving from the platform. Press Resubscribe to ask it"
                    " to send them here again."
                ),
            )
        case "disconnected":
            return "Disconnected", "muted", detail or ""
        case _:
            return status.replace("_", " ").capitalize(), "muted", detail or ""


#: The choices of "after how long away" (any other saved value is shown too).
AWAY_MINUTES = (0, 5, DEFAULT_AWAY_MINUTES, 15, 30, 60, 120)


def _minutes_words(minutes: int) -> str:
    if minutes == 0:
        return "at once"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


class ChannelCard(QFrame):
    """One channel: icon, name, health, mode (manual / auto / shadow) and threshold."""

    policy_changed = Signal(str, object)  # channel id, ChannelPolicy
    away_changed = Signal(str, object)  # channel id, AwayChannel (the relay's away reply)
    disconnect_requested = Signal(str)
    test_chat_requested = Signal()
    #: The health row asks: (channel id, "reconnect" or "resubscribe").
    fix_requested = Signal(str, str)
    check_requested = Signal(str)
    #: "Put on your website" on a web chat card.
    share_requested = Signal(str)

    def __init__(
        self,
        channel: Channel,
        policy: ChannelPolicy,
        *,
        test_channel: bool,
        away: AwayChannel | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setProperty("card", True)
        self.channel = channel
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)

        top = QHBoxLayout()
        top.setSpacing(12)
        picture = QLabel()
        picture.setPixmap(channel_icon(channel.platform).pixmap(34, 34))
        names = QVBoxLayout()
        names.setSpacing(1)
        platform = PLATFORM_NAMES.get(channel.platform, channel.platform)
        self.name = label(channel.name or platform, "heading")
        kind = "Built-in test channel" if test_channel else platform
        names.addWidget(self.name)
        names.addWidget(label(kind, "hint"))
        badge_text, badge_kind, advice = status_words(
            channel.status, channel.detail, channel.platform
        )
        self.badge = QLabel(badge_text)
        self.badge.setProperty("badge", badge_kind)
        top.addWidget(picture)
        top.addLayout(names, 1)
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.advice = label(advice, "muted", wrap=True)
        # In the layout before setVisible: a widget without a parent shown is a window.
        layout.addWidget(self.advice)
        self.advice.setVisible(bool(advice))
        # The built-in test channel and web chat have no platform access to check.
        self.health = HealthRow(channel.status, self)
        self.health.setVisible(channel.platform != "webchat")
        self.health.fix_requested.connect(lambda fix: self.fix_requested.emit(channel.id, fix))
        self.health.check_requested.connect(lambda: self.check_requested.emit(channel.id))
        self.health.set_alert(
            channel.alert, channel.alert_level, channel.alert_at_ms, time.time_ns() // 1_000_000
        )
        layout.addWidget(self.health)

        modes = QHBoxLayout()
        modes.setSpacing(6)
        modes.addWidget(label("Assistant", "section"))
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for mode, text, tip in _MODES:
            chip = QToolButton()
            chip.setText(text)
            chip.setToolTip(tip)
            chip.setCheckable(True)
            chip.setProperty("kind", "chip")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.setAccessibleName(f"{text} mode")
            self.mode_group.addButton(chip)
            self.mode_buttons[mode] = chip
            modes.addWidget(chip)
        modes.addStretch(1)
        if test_channel:
            self.try_button = button("Write as a customer", "test-chat")
            self.try_button.clicked.connect(self.test_chat_requested)
            modes.addWidget(self.try_button)
        if channel.platform == "webchat" and not test_channel:
            self.share_button = button(
                "Put on your website", "link", tip="The code to paste, the link and a QR code"
            )
            self.share_button.clicked.connect(lambda: self.share_requested.emit(channel.id))
            modes.addWidget(self.share_button)
        self.disconnect_button = button("Disconnect", "unplug", "danger")
        self.disconnect_button.clicked.connect(
            lambda: self.disconnect_requested.emit(self.channel.id)
        )
        modes.addWidget(self.disconnect_button)
        layout.addLayout(modes)
        self.mode_help = label("", "hint", wrap=True)
        layout.addWidget(self.mode_help)

        self.threshold_row = QWidget()
        row = QHBoxLayout(self.threshold_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label("Send on its own when at least", "muted"))
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setMaximumWidth(260)
        self.threshold.setRange(50, 100)
        self.threshold.setSingleStep(5)
        self.threshold.setPageStep(10)
        self.threshold.setAccessibleName("Confidence needed to send automatically")
        self.threshold_value = label("", "heading")
        self.threshold_value.setMinimumWidth(48)
        row.addWidget(self.threshold, 1)
        row.addWidget(self.threshold_value)
        row.addWidget(label("sure", "muted"))
        row.addStretch(1)
        layout.addWidget(self.threshold_row)
        self.shadow_score = label("", "hint", wrap=True)
        layout.addWidget(self.shadow_score)
        self.shadow_score.hide()
        switch = away or AwayChannel()
        away_row = QHBoxLayout()
        away_row.setSpacing(8)
        self.away = QCheckBox("Answer new conversations while this computer is off, after")
        self.away.setToolTip(
            "When no device of yours has been connected for this long, Clientora's server "
            "answers a new conversation once with your away message, in the customer's "
            "language."
        )
        self.away.setChecked(switch.enabled)
        self.away_minutes = QComboBox()
        for minutes in sorted({*AWAY_MINUTES, switch.minutes}):
            self.away_minutes.addItem(_minutes_words(minutes), minutes)
        self.away_minutes.setCurrentIndex(self.away_minutes.findData(switch.minutes))
        self.away_minutes.setEnabled(switch.enabled)
        self.away_minutes.setAccessibleName("How long the computer is off before the reply")
        self.away.toggled.connect(self._away_changed)
        self.away_minutes.activated.connect(self._away_changed)
        away_row.addWidget(self.away)
        away_row.addWidget(self.away_minutes)
        away_row.addStretch(1)
        layout.addLayout(away_row)

        self.set_policy(policy)
        self.mode_group.buttonClicked.connect(lambda _: self._changed())
        self.threshold.valueChanged.connect(self._threshold_moved)
        self.threshold.sliderReleased.connect(self._changed)

    @property
    def mode(self) -> Mode:
        for mode, chip in self.mode_buttons.items():
            if chip.isChecked():
                return mode  # type: ignore[return-value]
        return "manual"

    def _away_changed(self) -> None:
        on = self.away.isChecked()
        self.away_minutes.setEnabled(on)
        switch = AwayChannel(enabled=on, minutes=int(self.away_minutes.currentData()))
        self.away_changed.emit(self.channel.id, switch)

    def set_policy(self, policy: ChannelPolicy) -> None:
        self.mode_buttons[policy.mode].setChecked(True)
        self.threshold.blockSignals(True)
        self.threshold.setValue(round(policy.threshold * 100))
        self.threshold.blockSignals(False)
        self._show_mode()

    def set_mode(self, mode: Mode) -> None:
        """Choose a mode as if the owner clicked it."""
        self.mode_buttons[mode].click()

    def _show_mode(self) -> None:
        mode = self.mode
        self.mode_help.setText(next(tip for m, _, tip in _MODES if m == mode))
        self.threshold_row.setVisible(mode == "auto")
        self.threshold_value.setText(f"{self.threshold.value()}%")

    def _threshold_moved(self, value: int) -> None:
        self.threshold_value.setText(f"{value}%")
        if not self.threshold.isSliderDown():
            self._changed()

    def _changed(self) -> None:
        self._show_mode()
        policy = ChannelPolicy(mode=self.mode, threshold=self.threshold.value() / 100)
        self.policy_changed.emit(self.channel.id, policy)

    def set_health(self, health: ChannelHealth, now_ms: int) -> None:
        self.health.set_health(health, now_ms)
        # The health row's sentences are newer and fuller than the status's detail.
        if self.health.attention.text():
            self.advice.hide()

    def set_shadow(self, compared: int, agreed: int) -> None:
        if compared:
            self.shadow_score.setText(
                f"In shadow mode the assistant agreed with your reply {agreed} of {compared}"
                f" times ({agreed / compared:.0%})."
            )
        else:
            self.shadow_score.setText("No replies compared yet.")
        self.shadow_score.setVisible(self.mode == "shadow" or compared > 0)


class ChannelsScreen(QWidget):
    """Cards for every channel, and the buttons that connect new ones: Connect with
    Facebook (the recommended path), Viber or web chat, and ids and tokens by hand."""

    #: Sign in with Facebook (Messenger, Instagram, WhatsApp).
    meta_requested = Signal()
    #: The form with ids and tokens, opened on this platform.
    connect_requested = Signal(str)
    policy_changed = Signal(str, object)
    away_changed = Signal(str, object)
    disconnect_requested = Signal(str)
    test_chat_requested = Signal()
    fix_requested = Signal(str, str)  # channel id, "reconnect" or "resubscribe"
    check_requested = Signal(str)
    share_requested = Signal(str)
    #: The screen came into view (the controller brings cards it left stale up to date).
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.setSpacing(12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(label("Channels", "title"))
        titles.addWidget(
            label(
                "Where your customers write to you, and how much the assistant may do on each.",
                "muted",
                wrap=True,
            )
        )
        head.addLayout(titles, 1)
        self.manual_button = button(
            "Enter ids and tokens (developers)",
            kind="flat",
            tip="Paste a Page, Instagram or WhatsApp id and access token by hand.",
        )
        self.manual_button.clicked.connect(lambda: self.connect_requested.emit("messenger"))
        self.connect_button = button(
            "Viber or web chat", "plus", tip="Paste a Viber bot token, or add a website chat box."
        )
        self.connect_button.clicked.connect(lambda: self.connect_requested.emit("viber"))
        self.meta_button = button(
            "Connect with Facebook",
            "link",
            "primary",
            tip="Messenger, Instagram and WhatsApp: sign in with Facebook and pick your Pages,"
            " accounts and numbers. No tokens to copy.",
        )
        self.meta_button.clicked.connect(self.meta_requested)
        for widget in (self.manual_button, self.connect_button, self.meta_button):
            head.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        outer.addLayout(head)
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 8, 0)
        self.cards_layout = QGridLayout()
        self.cards_layout.setSpacing(12)
        self.cards_layout.setColumnStretch(0, 1)
        self.cards_layout.setColumnStretch(1, 1)
        holder_layout.addLayout(self.cards_layout)
        holder_layout.addStretch(1)
        self.scroll_area.setWidget(holder)
        self.empty = EmptyState(
            "nav-channels",
            "No channels connected",
            "Connect Messenger, Instagram and WhatsApp by signing in with Facebook. Viber and"
            " a chat box for your website are on the buttons above.",
            "Connect with Facebook",
        )
        self.empty.action_clicked.connect(self.meta_requested)
        self.stack.addWidget(self.scroll_area)
        self.stack.addWidget(self.empty)
        outer.addWidget(self.stack, 1)
        self.cards: dict[str, ChannelCard] = {}
        self._columns = 0
        #: The last health seen per channel, kept while the cards are rebuilt.
        self.health: dict[str, tuple[ChannelHealth, int]] = {}
        #: Channels with a check or fix running, and the words their button shows meanwhile.
        self.busy: dict[str, str] = {}

    def set_channels(
        self,
        channels: Sequence[Channel],
        policies: dict[str, ChannelPolicy],
        test_channel_id: str | None,
        away: Mapping[str, AwayChannel] | None = None,
    ) -> None:
        for old in self.cards.values():
            self.cards_layout.removeWidget(old)
            old.deleteLater()
        self.cards = {}
        shown = [c for c in channels if c.status != "disconnected"]
        # The test channel first: in local mode it is where the owner starts.
        shown.sort(key=lambda c: c.id != test_channel_id)
        for channel in shown:
            card_widget = ChannelCard(
                channel,
                policies.get(channel.id, ChannelPolicy()),
                test_channel=channel.id == test_channel_id,
                away=(away or {}).get(channel.id),
            )
            card_widget.policy_changed.connect(self.policy_changed)
            card_widget.away_changed.connect(self.away_changed)
            card_widget.disconnect_requested.connect(self.disconnect_requested)
            card_widget.test_chat_requested.connect(self.test_chat_requested)
            card_widget.fix_requested.connect(self.fix_requested)
            card_widget.check_requested.connect(self.check_requested)
            card_widget.share_requested.connect(self.share_requested)
            guard_wheel(card_widget, self.scroll_area)
            self.cards[channel.id] = card_widget
            known = self.health.get(channel.id)
            # Health from before a status change would offer the wrong fix: only a health
            # that agrees with the card's status is shown again.
            if known is not None and known[0].status == channel.status:
                card_widget.set_health(*known)
            if channel.id in self.busy:
                card_widget.health.set_busy(True, self.busy[channel.id])
        self.stack.setCurrentWidget(self.scroll_area if shown else self.empty)
        self._columns = 0
        self._place()

    def _place(self) -> None:
        """Two columns of cards where they fit side by side, else one (no sideways scroll)."""
        columns = 2 if self.scroll_area.viewport().width() >= TWO_COLUMNS else 1
        if columns == self._columns:
            return
        self._columns = columns
        for card_widget in self.cards.values():
            self.cards_layout.removeWidget(card_widget)
        for position, card_widget in enumerate(self.cards.values()):
            self.cards_layout.addWidget(card_widget, position // columns, position % columns)
        self.cards_layout.setColumnStretch(1, 1 if columns == 2 else 0)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place()

    def set_health(self, health: ChannelHealth, now_ms: int) -> None:
        self.health[health.channel_id] = (health, now_ms)
        card_widget = self.cards.get(health.channel_id)
        if card_widget is not None:
            card_widget.set_health(health, now_ms)

    def set_checking(self, channel_id: str, busy: bool, words: str = "Checking…") -> None:
        if busy:
            self.busy[channel_id] = words
        else:
            self.busy.pop(channel_id, None)
        card_widget = self.cards.get(channel_id)
        if card_widget is not None:
            card_widget.health.set_busy(busy, words)

    def set_shadow(self, shadow: dict[str, tuple[int, int]]) -> None:
        for channel_id, card_widget in self.cards.items():
            compared, agreed = shadow.get(channel_id, (0, 0))
            card_widget.set_shadow(compared, agreed)
