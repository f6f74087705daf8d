"""The thread: a header naming the customer and the window, and the bubbles below it."""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from desktop.core.store import UNKNOWN_OUTCOME, Conversation, Message
from desktop.ui.delegates.bubble import BubbleDelegate
from desktop.ui.icons import channel_icon
from desktop.ui.models.messages import MESSAGE_ROLE, MessageListModel
from desktop.ui.text import PLATFORM_NAMES, countdown
from desktop.ui.widgets.common import Avatar, ElidedLabel, label, repolish

__all__ = ["ThreadHeader", "ThreadView"]


class ThreadHeader(QFrame):
    """Customer, channel and time left to reply; the pane puts its actions on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ThreadHeader")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 12, 10)
        layout.setSpacing(12)
        self.avatar = Avatar(38)
        names = QVBoxLayout()
        names.setSpacing(1)
        self.name = ElidedLabel()
        self.name.setProperty("role", "heading")
        sub = QHBoxLayout()
        sub.setSpacing(6)
        self.channel_icon = QLabel()
        self.channel_icon.setFixedSize(16, 16)
        self.channel = ElidedLabel()
        self.channel.setProperty("role", "muted")
        self.window_label = label("", "hint")
        sub.addWidget(self.channel_icon)
        sub.addWidget(self.channel)
        sub.addWidget(self.window_label)
        sub.addStretch(1)
        names.addWidget(self.name)
        names.addLayout(sub)
        layout.addWidget(self.avatar)
        layout.addLayout(names, 1)
        self.action_row = QHBoxLayout()
        self.action_row.setSpacing(6)
        layout.addLayout(self.action_row)

    def set_conversation(self, c: Conversation, now_ms: int | None = None) -> None:
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        customer = c.customer
        self.avatar.set_person(customer.name, customer.platform_id)
        self.name.setText(customer.name or customer.phone or "Customer")
        self.channel_icon.setPixmap(channel_icon(c.platform).pixmap(16, 16))
        where = PLATFORM_NAMES.get(c.platform, c.platform)
        self.channel.setText(f"{where} · {c.channel_name}" if c.channel_name else where)
        left = countdown(c.window_deadline_ms, now)
        if left is None:
            self.window_label.setText("")
            self.window_label.setToolTip("")
        else:
            self.window_label.setText(f"· {left} to reply")
            self.window_label.setToolTip(
                "The platform accepts replies for 24 hours after the customer's last message."
            )
        urgent = c.window_deadline_ms is not None and c.window_deadline_ms - now < 3 * 3_600_000
        self.window_label.setProperty("role", "fieldError" if urgent else "hint")
        repolish(self.window_label)


class ThreadView(QListView):
    """Message bubbles, newest at the bottom; keeps to the bottom as messages arrive."""

    retry_requested = Signal(int)
    arrived_confirmed = Signal(int)
    link_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Thread")
        self.messages = MessageListModel(self)
        self.setModel(self.messages)
        self.bubbles = BubbleDelegate(self)
        self.setItemDelegate(self.bubbles)
        self.bubbles.retry_requested.connect(self.retry_requested)
        self.bubbles.arrived_confirmed.connect(self.arrived_confirmed)
        self.bubbles.link_activated.connect(self.link_activated)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setAccessibleName("Messages")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.messages.rowsInserted.connect(self._follow)
        self.messages.modelReset.connect(self.scrollToBottom)
        self._at_bottom = True
        self.verticalScrollBar().valueChanged.connect(self._remember_position)

    def set_messages(self, conversation_id: int | None, messages: list[Message]) -> None:
        self.messages.set_messages(conversation_id, messages)
        self._at_bottom = True
        self.scrollToBottom()

    def _remember_position(self, value: int) -> None:
        self._at_bottom = value >= self.verticalScrollBar().maximum() - 4

    def _follow(self, parent: QModelIndex, first: int, last: int) -> None:
        # New messages pull the view down only when the owner was already at the bottom.
        if self._at_bottom:
            self.scrollToBottom()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._at_bottom:
            self.scrollToBottom()

    def _menu(self, point: QPoint) -> None:
        index = self.indexAt(point)
        message = index.data(MESSAGE_ROLE) if index.isValid() else None
        if not isinstance(message, Message):
            return
        menu = QMenu(self)
        copy = menu.addAction("Copy text")
        copy.setEnabled(bool(message.text))
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(message.text or ""))
        if message.status == "failed":
            retry = menu.addAction("Retry sending")
            retry.triggered.connect(lambda: self.retry_requested.emit(message.id))
        if message.status == "failed" and message.error_code == UNKNOWN_OUTCOME:
            arrived = menu.addAction("It arrived: mark as sent")
            arrived.triggered.connect(lambda: self.arrived_confirmed.emit(message.id))
        menu.popup(self.viewport().mapToGlobal(point))
