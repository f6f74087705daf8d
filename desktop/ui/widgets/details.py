"""The side panel of a conversation: status, labels, notes and who is answering."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.store import Conversation, ConversationStatus
from desktop.ui.icons import icon
from desktop.ui.text import PLATFORM_NAMES, STATUS_NAMES
from desktop.ui.widgets.common import FlowLayout, button, divider, label

__all__ = ["DetailsPane", "snooze_choices"]

_STATUS_ICONS: dict[str, str] = {
    "open": "nav-inbox",
    "waiting": "clock",
    "resolved": "resolve",
    "snoozed": "snooze",
}


def snooze_choices(now: datetime) -> list[tuple[str, datetime]]:
    """Snooze until: in an hour, this evening, tomorrow morning, next Monday morning."""
    morning = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    monday = morning + timedelta(days=(7 - morning.weekday()) % 7 or 7)
    choices = [("For an hour", now + timedelta(hours=1))]
    evening = now.replace(hour=18, minute=0, second=0, microsecond=0)
    if evening - now > timedelta(hours=1):
        choices.append(("Until this evening (18:00)", evening))
    choices.append(("Until tomorrow morning (9:00)", morning))
    choices.append(("Until Monday morning", monday if monday > morning else morning))
    return choices


class DetailsPane(QFrame):
    """Shows and edits one conversation's status, labels and notes."""

    status_requested = Signal(str, object)  # status, snoozed until (ms) or None
    labels_changed = Signal(list)
    notes_changed = Signal(str)
    hand_back_requested = Signal()
    #: "Forget this customer" (the controller confirms first).
    forget_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DetailsPane")
        self.setMinimumWidth(230)
        self.setMaximumWidth(320)
        self._conversation: Conversation | None = None
        self._labels: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(8)

        layout.addWidget(label("Customer", "section"))
        self.customer = label("", wrap=True, selectable=True)
        layout.addWidget(self.customer)
        layout.addWidget(divider())

        layout.addWidget(label("Status", "section"))
        row = QHBoxLayout()
        self.status = QComboBox()
        self.status.setAccessibleName("Conversation status")
        for value in ("open", "waiting", "resolved"):
            self.status.addItem(icon(_STATUS_ICONS[value]), STATUS_NAMES[value], value)
        self.status.addItem(icon("snooze"), STATUS_NAMES["snoozed"], "snoozed")
        self.snooze = QToolButton()
        self.snooze.setIcon(icon("snooze"))
        self.snooze.setIconSize(QSize(16, 16))
        self.snooze.setToolTip("Snooze: hide until later, then reopen")
        self.snooze.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.snooze_menu = QMenu(self)
        self.snooze.setMenu(self.snooze_menu)
        self.snooze_menu.aboutToShow.connect(self._fill_snooze)
        row.addWidget(self.status, 1)
        row.addWidget(self.snooze)
        layout.addLayout(row)
        self.snoozed_until = label("", "hint")
        layout.addWidget(self.snoozed_until)
        layout.addWidget(divider())

        layout.addWidget(label("Assistant", "section"))
        self.assistant = label("", wrap=True)
        layout.addWidget(self.assistant)
        self.hand_back = button("Let the assistant answer again", "bot")
        self.hand_back.clicked.connect(self.hand_back_requested)
        layout.addWidget(self.hand_back)
        layout.addWidget(divider())

        layout.addWidget(label("Labels", "section"))
        self.chips = FlowLayout(spacing=4)
        layout.addLayout(self.chips)
        self.new_label = QLineEdit()
        self.new_label.setPlaceholderText("Add a label and press Enter")
        self.new_label.setAccessibleName("New label")
        self.new_label.returnPressed.connect(self._add_label)
        layout.addWidget(self.new_label)
        layout.addWidget(divider())

        layout.addWidget(label("Notes", "section"))
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Only you see these notes.")
        self.notes.setAccessibleName("Notes")
        self.notes.setMinimumHeight(90)
        layout.addWidget(self.notes, 1)
        self.forget = button(
            "Forget this customer",
            "trash",
            "danger",
            tip="Erase this customer and their messages everywhere, with a signed receipt",
        )
        self.forget.clicked.connect(self.forget_requested)
        layout.addWidget(self.forget)
        self._notes_timer = QTimer(self)
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(700)
        self._notes_timer.timeout.connect(self.save_notes)
        self.notes.textChanged.connect(self._notes_edited)
        self._loading = False
        self.status.activated.connect(self._status_chosen)

    def set_conversation(self, c: Conversation) -> None:
        same = self._conversation is not None and self._conversation.id == c.id
        if not same:
            self.save_notes()
        self._conversation = c
        self._loading = True
        try:
            parts = [c.customer.name or "Customer"]
            if c.customer.phone:
                parts.append(c.customer.phone)
            parts.append(f"on {PLATFORM_NAMES.get(c.platform, c.platform)}")
            self.customer.setText("\n".join(parts))
            self.status.setCurrentIndex(max(0, self.status.findData(c.status)))
            if c.status == "snoozed" and c.snoozed_until_ms:
                until = datetime.fromtimestamp(c.snoozed_until_ms / 1000)
                self.snoozed_until.setText(f"Reopens {until:%a %d %b, %H:%M}")
                self.snoozed_until.show()
            else:
                self.snoozed_until.hide()
            if c.assistant_paused:
                why = {
                    "owner_reply": "You replied here, so the assistant stays quiet.",
                    "echo": "Someone replied from the platform's app, so the assistant"
                    " stays quiet.",
                    "manual": "You took over this conversation.",
                }.get(c.paused_reason or "manual", "The assistant is paused here.")
                self.assistant.setText(why)
                self.hand_back.show()
            else:
                self.assistant.setText("The assistant drafts a reply to each new message.")
                self.hand_back.hide()
            self._set_labels(list(c.labels))
            if (not same or not self.notes.hasFocus()) and self.notes.toPlainText() != c.notes:
                self.notes.setPlainText(c.notes)
        finally:
            self._loading = False

    def _set_labels(self, labels: list[str]) -> None:
        self._labels = labels
        while self.chips.count():
            item = self.chips.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for name in labels:
            chip = QToolButton()
            chip.setProperty("kind", "chip")
            chip.setText(f"{name}  ×")
            chip.setToolTip(f"Remove the label “{name}”")
            chip.setIcon(QIcon(icon("tag")))
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            chip.clicked.connect(lambda _=False, n=name: self._remove_label(n))
            self.chips.addWidget(chip)

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def _add_label(self) -> None:
        name = " ".join(self.new_label.text().split())
        self.new_label.clear()
        if name and name not in self._labels:
            self._set_labels([*self._labels, name])
            self.labels_changed.emit(self.labels)

    def _remove_label(self, name: str) -> None:
        self._set_labels([n for n in self._labels if n != name])
        self.labels_changed.emit(self.labels)

    def _notes_edited(self) -> None:
        if not self._loading:
            self._notes_timer.start()

    def save_notes(self) -> None:
        """Send unsaved notes now (also done 0.7 s after the last keystroke)."""
        self._notes_timer.stop()
        c = self._conversation
        if c is not None and self.notes.toPlainText() != c.notes and not self._loading:
            self.notes_changed.emit(self.notes.toPlainText())

    def _status_chosen(self, row: int) -> None:
        value = str(self.status.itemData(row))
        if value == "snoozed":
            self._fill_snooze()
            self.snooze_menu.popup(self.snooze.mapToGlobal(self.snooze.rect().bottomLeft()))
            return
        status: ConversationStatus = value  # type: ignore[assignment]
        self.status_requested.emit(status, None)

    def _fill_snooze(self) -> None:
        self.snooze_menu.clear()
        for text, until in snooze_choices(datetime.now()):
            action = self.snooze_menu.addAction(text)
            ms = int(until.timestamp() * 1000)
            action.triggered.connect(lambda _=False, m=ms: self.status_requested.emit("snoozed", m))

    def snooze_for(self, hours: float) -> None:
        """Snooze from code (tests, shortcuts): reopen after ``hours``."""
        until = time.time_ns() // 1_000_000 + int(hours * 3_600_000)
        self.status_requested.emit("snoozed", until)
