"""Connect with Facebook: the browser step, a waiting state, then the picker of what was shared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Literal

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.relay_client import MetaAsset
from desktop.ui.icons import channel_icon
from desktop.ui.widgets.common import Banner, button, label

__all__ = ["MetaConnectDialog", "Stage", "asset_text"]

Stage = Literal["start", "waiting", "picking", "connecting"]

#: The picker's groups, in the order Meta's dialog shows them.
_GROUPS: Final = (
    ("messenger", "Facebook Pages (Messenger)"),
    ("instagram", "Instagram accounts"),
    ("whatsapp", "WhatsApp numbers"),
)
_INTRO: Final = (
    "Your browser opens Facebook. Sign in, choose the Pages, Instagram accounts and WhatsApp"
    " numbers your customers write to, and allow Clientora to manage their messages. Then"
    " come back here to pick which ones to connect. Nothing is sent until you approve it."
)


_RECONNECTS: Final = "Connected already: picking it again gives it a fresh access (reconnects it)."


def asset_text(asset: MetaAsset) -> str:
    """The picker's line for an asset: its name and what tells it apart (a number, @name)."""
    if asset.detail and asset.detail != asset.name:
        return f"{asset.name} — {asset.detail}"
    return asset.name


class MetaConnectDialog(QDialog):
    """The Connect with Facebook window; a controller drives its stages.

    ``login_requested`` asks to start (again), ``reopen_requested`` to open the same link in
    the browser again, ``connect_requested`` carries the picked asset ids, and
    ``manual_requested`` switches to entering ids and tokens by hand.
    """

    login_requested = Signal()
    reopen_requested = Signal()
    connect_requested = Signal(object)  # list[str] of MetaAsset.id
    manual_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, reconnecting: str | None = None) -> None:
        super().__init__(parent)
        title = f"Reconnect {reconnecting}" if reconnecting else "Connect with Facebook"
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 16)
        layout.setSpacing(10)
        layout.addWidget(label(title, "heading"))
        self.banner = Banner()
        self.banner.action_clicked.connect(self.login_requested)
        layout.addWidget(self.banner)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)

        # Start: what happens, and the button (again after a failure).
        self.start_page = QWidget()
        start = QVBoxLayout(self.start_page)
        start.setContentsMargins(0, 0, 0, 0)
        start.setSpacing(12)
        intro = (
            f"Your browser opens Facebook: sign in again and pick {reconnecting} to give"
            " Clientora a fresh access. Its conversations and settings stay."
            if reconnecting
            else _INTRO
        )
        start.addWidget(label(intro, "muted", wrap=True))
        self.login_button = button("Connect with Facebook", "link", "primary")
        self.login_button.setAccessibleName("Connect with Facebook")
        self.login_button.clicked.connect(self.login_requested)
        start.addWidget(self.login_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.manual_button = button("Enter ids and tokens instead (developers)")
        self.manual_button.clicked.connect(self._manual)
        start.addWidget(self.manual_button, 0, Qt.AlignmentFlag.AlignLeft)
        start.addStretch(1)
        self.pages.addWidget(self.start_page)

        # Waiting for the browser.
        self.waiting_page = QWidget()
        waiting = QVBoxLayout(self.waiting_page)
        waiting.setContentsMargins(0, 0, 0, 0)
        waiting.setSpacing(10)
        self.waiting_title = label("", "heading")
        waiting.addWidget(self.waiting_title)
        self.waiting_text = label("", "muted", wrap=True)
        waiting.addWidget(self.waiting_text)
        self.spinner = QProgressBar()
        self.spinner.setRange(0, 0)
        self.spinner.setTextVisible(False)
        self.spinner.setMaximumHeight(6)
        self.spinner.setAccessibleName("Waiting for Facebook")
        waiting.addWidget(self.spinner)
        self.link = label("", "hint", wrap=True, selectable=True)
        self.link.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        waiting.addWidget(self.link)
        self.reopen_button = button("Open the browser again")
        self.reopen_button.clicked.connect(self.reopen_requested)
        waiting.addWidget(self.reopen_button, 0, Qt.AlignmentFlag.AlignLeft)
        waiting.addStretch(1)
        self.pages.addWidget(self.waiting_page)

        # The picker.
        self.picker_page = QWidget()
        picker = QVBoxLayout(self.picker_page)
        picker.setContentsMargins(0, 0, 0, 0)
        picker.setSpacing(8)
        picker.addWidget(
            label(
                "Choose what to connect. Messages from each one you pick arrive in your inbox.",
                "muted",
                wrap=True,
            )
        )
        self.warnings = label("", "hint", wrap=True)
        picker.addWidget(self.warnings)
        self.reconnect_hint = label(
            "Picking one marked Connected gives it a fresh access; its conversations stay.",
            "hint",
            wrap=True,
        )
        picker.addWidget(self.reconnect_hint)
        self.assets_area = QScrollArea()
        self.assets_area.setWidgetResizable(True)
        self.assets_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.assets_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        picker.addWidget(self.assets_area, 1)
        self.pages.addWidget(self.picker_page)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setProperty("kind", "primary")
        self.buttons.addButton(self.connect_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        #: The picker's check boxes by asset id.
        self.boxes: dict[str, QCheckBox] = {}
        self._stage: Stage = "start"
        self._show("start")

    @property
    def stage(self) -> Stage:
        return self._stage

    def _show(self, stage: Stage) -> None:
        self._stage = stage
        page = {
            "start": self.start_page,
            "waiting": self.waiting_page,
            "picking": self.picker_page,
            "connecting": self.picker_page,
        }[stage]
        # Only the current page counts for the window's size: no empty space under a short one.
        for other in (self.start_page, self.waiting_page, self.picker_page):
            policy = QSizePolicy.Policy.Preferred if other is page else QSizePolicy.Policy.Ignored
            other.setSizePolicy(policy, policy)
        self.pages.setCurrentWidget(page)
        picking = stage in ("picking", "connecting")
        self.connect_button.setVisible(picking)
        self.connect_button.setText("Connecting…" if stage == "connecting" else "Connect")
        # Connecting is all or nothing on the relay; leaving halfway would only hide it.
        self.cancel_button.setEnabled(stage != "connecting")
        for box in self.boxes.values():
            box.setEnabled(stage == "picking")
        self._update_connect()
        self.adjustSize()

    # ---- stages the controller sets -------------------------------------------------

    def set_starting(self) -> None:
        """The login link is being asked for."""
        self.banner.hide()
        self.waiting_title.setText("Opening Facebook…")
        self.waiting_text.setText(_INTRO)
        self.link.hide()
        self.reopen_button.hide()
        self._show("waiting")

    def set_waiting(self, login_url: str, opened: bool) -> None:
        """The browser was asked to open ``login_url``; wait for the owner to finish there."""
        self.waiting_title.setText("Finish in your browser")
        self.waiting_text.setText(
            "Sign in to Facebook in the browser window that opened, choose what Clientora may"
            " use and allow it. This window continues on its own when you are done."
        )
        if opened:
            self.link.hide()
        else:
            self.link.setText(f"Your browser did not open. Copy this address into it:\n{login_url}")
            self.link.show()
        self.reopen_button.show()
        self._show("waiting")

    def set_assets(
        self,
        assets: Sequence[MetaAsset],
        warnings: Sequence[str] = (),
        *,
        preselect: Callable[[MetaAsset], bool] | None = None,
    ) -> None:
        """Show the picker: a check box per asset, grouped by kind."""
        self.banner.hide()
        self.warnings.setText("\n".join(warnings))
        self.warnings.setVisible(bool(warnings))
        self.reconnect_hint.setVisible(any(a.connected for a in assets))
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(6)
        self.boxes = {}
        for platform, heading in _GROUPS:
            group = [a for a in assets if a.platform == platform]
            if not group:
                continue
            column.addSpacing(4)
            column.addWidget(label(heading.upper(), "section"))
            for asset in group:
                line = QHBoxLayout()
                box = QCheckBox(asset_text(asset))
                box.setIcon(channel_icon(asset.platform))
                box.setIconSize(QSize(20, 20))
                box.setAccessibleName(asset.name)
                box.setChecked(preselect is not None and preselect(asset))
                box.toggled.connect(self._update_connect)
                line.addWidget(box, 1)
                if asset.connected:
                    box.setToolTip(_RECONNECTS)
                    mark = QLabel("Connected")
                    mark.setProperty("badge", "muted")
                    mark.setToolTip(_RECONNECTS)
                    line.addWidget(mark)
                column.addLayout(line)
                self.boxes[asset.id] = box
        column.addStretch(1)
        self.assets_area.setWidget(holder)
        # Tall enough for the usual few assets without scrolling; long lists scroll.
        self.assets_area.setMinimumHeight(min(holder.sizeHint().height() + 8, 360))
        self._show("picking")

    def set_connecting(self) -> None:
        self.banner.hide()
        self._show("connecting")

    def failed(self, words: str) -> None:
        """The sign-in did not work: say why, offer to start again."""
        self.banner.show_message("error", words)
        self.login_button.setText("Try again with Facebook")
        self._show("start")

    def unavailable(self) -> None:
        """The server has no Facebook app: say what works instead, offer no retry."""
        self.banner.show_message(
            "warning",
            "Connect with Facebook is not set up on your Clientora server yet. Ask whoever"
            " runs it to set it up, or add a Page by hand: Channels, then “Enter ids and"
            " tokens”.",
        )
        self._show("start")
        self.login_button.hide()

    def connect_failed(self, words: str) -> None:
        """Connecting the picks did not work (nothing was connected): pick again, or restart."""
        self.banner.show_message("error", words, action="Start again")
        self._show("picking")

    def connected(self) -> None:
        self.accept()

    # ---- what the owner does --------------------------------------------------------

    def picks(self) -> list[str]:
        """The ids of the checked assets, in the order shown."""
        return [asset_id for asset_id, box in self.boxes.items() if box.isChecked()]

    def _update_connect(self, *_: object) -> None:
        self.connect_button.setEnabled(self._stage == "picking" and bool(self.picks()))

    def _submit(self) -> None:
        picks = self.picks()
        if self._stage == "picking" and picks:
            self.set_connecting()
            self.connect_requested.emit(picks)

    def _manual(self) -> None:
        self.reject()
        self.manual_requested.emit()

    def reject(self) -> None:
        if self._stage != "connecting":
            super().reject()
