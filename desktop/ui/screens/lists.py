"""Inbox, approvals and expiring soon: a list of conversations beside the open one."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.store import Channel
from desktop.ui.delegates.conversation import ConversationDelegate
from desktop.ui.icons import channel_icon, icon
from desktop.ui.models.conversations import CONVERSATION_ROLE
from desktop.ui.text import PLATFORM_NAMES
from desktop.ui.widgets.common import EmptyState, label, tool_button
from desktop.ui.widgets.conversation_pane import ConversationPane

__all__ = ["InboxScreen", "ListScreen"]

#: Status filter entries: (label, statuses, unread only, drafts waiting only)
STATUS_FILTERS: tuple[tuple[str, tuple[str, ...], bool, bool], ...] = (
    ("Open and waiting", ("open", "waiting"), False, False),
    ("All conversations", (), False, False),
    ("Unread", (), True, False),
    ("Draft waiting", (), False, True),
    ("Needs a person", (), False, True),
    ("Open", ("open",), False, False),
    ("Waiting", ("waiting",), False, False),
    ("Resolved", ("resolved",), False, False),
    ("Snoozed", ("snoozed",), False, False),
)


class ListScreen(QWidget):
    """A titled list on the left and a :class:`ConversationPane` on the right."""

    #: The selected conversation changed (its id, or None).
    selected = Signal(object)

    def __init__(
        self,
        title: str,
        subtitle: str,
        empty: tuple[str, str, str],
        parent: QWidget | None = None,
        *,
        empty_action: str | None = None,
    ) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter)

        left = QFrame()
        left.setObjectName("ListPane")
        left.setMinimumWidth(300)
        self.left_layout = QVBoxLayout(left)
        self.left_layout.setContentsMargins(10, 14, 10, 6)
        self.left_layout.setSpacing(8)
        top = QHBoxLayout()
        top.setContentsMargins(6, 0, 0, 0)
        self.title = label(title, "title")
        top.addWidget(self.title)
        top.addStretch(1)
        self.top_actions = top
        self.left_layout.addLayout(top)
        self.subtitle = label(subtitle, "hint", wrap=True)
        self.subtitle.setContentsMargins(6, 0, 6, 0)
        self.left_layout.addWidget(self.subtitle)
        self.subtitle.setVisible(bool(subtitle))

        self.list_stack = QStackedWidget()
        self.view = QListView()
        self.view.setObjectName("ConversationList")
        self.view.setItemDelegate(ConversationDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setMouseTracking(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setAccessibleName(f"{title}: conversations")
        self.empty = EmptyState(empty[0], empty[1], empty[2], empty_action)
        self.list_stack.addWidget(self.view)
        self.list_stack.addWidget(self.empty)
        self.left_layout.addWidget(self.list_stack, 1)

        self.pane = ConversationPane()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.pane)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([360, 900])

        for keys, step in (("Alt+Down", 1), ("Alt+Up", -1), ("Ctrl+]", 1), ("Ctrl+[", -1)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=step: self.step(s))

    def set_model(self, model: QAbstractItemModel) -> None:
        self.view.setModel(model)
        selection = self.view.selectionModel()
        selection.currentChanged.connect(self._current_changed)
        for signal in (
            model.rowsInserted,
            model.rowsRemoved,
            model.modelReset,
            model.layoutChanged,
        ):
            signal.connect(self._update_empty)
        self._update_empty()

    def _update_empty(self, *args: object) -> None:
        model = self.view.model()
        has_rows = model is not None and model.rowCount() > 0
        self.list_stack.setCurrentWidget(self.view if has_rows else self.empty)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        conversation = current.data(CONVERSATION_ROLE) if current.isValid() else None
        self.selected.emit(getattr(conversation, "id", None))

    def select_row(self, row: int) -> None:
        model = self.view.model()
        if model is None or not 0 <= row < model.rowCount():
            return
        index = model.index(row, 0)
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.view.scrollTo(index)

    def current_row(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def step(self, delta: int) -> None:
        """Open the next (1) or previous (-1) conversation in the list."""
        model = self.view.model()
        if model is None or model.rowCount() == 0:
            return
        row = min(max(self.current_row() + delta, 0), model.rowCount() - 1)
        self.select_row(row)


class InboxScreen(ListScreen):
    """All conversations, with search, channel and status filters and a test chat."""

    search_changed = Signal(str)
    filter_changed = Signal()
    test_chat_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Inbox",
            "",
            (
                "nav-inbox",
                "No conversations yet",
                "When customers write on a connected channel, their messages show up here.",
            ),
            parent,
            empty_action="Write as a customer",
        )
        self.empty.action_clicked.connect(self.test_chat_requested)
        self.test_chat = tool_button(
            "test-chat", "Write to your shop as a customer would", text="Try it", kind="default"
        )
        self.test_chat.hide()
        self.test_chat.clicked.connect(self.test_chat_requested)
        self.top_actions.addWidget(self.test_chat)

        self.search = QLineEdit()
        self.search.setObjectName("SearchField")
        self.search.setPlaceholderText("Search names and messages  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search", "muted"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setAccessibleName("Search conversations")
        self.search.textChanged.connect(self.search_changed)
        self.left_layout.insertWidget(2, self.search)

        filters = QHBoxLayout()
        filters.setSpacing(6)
        self.channel_filter = QComboBox()
        self.channel_filter.setAccessibleName("Channel filter")
        self.channel_filter.addItem(icon("nav-channels"), "All channels", None)
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Status filter")
        for text, *_ in STATUS_FILTERS:
            self.status_filter.addItem(text)
        filters.addWidget(self.channel_filter, 1)
        filters.addWidget(self.status_filter, 1)
        self.left_layout.insertLayout(3, filters)
        self.channel_filter.currentIndexChanged.connect(lambda _: self.filter_changed.emit())
        self.status_filter.currentIndexChanged.connect(lambda _: self.filter_changed.emit())

        self.set_test_channel(False)
        find = QShortcut(QKeySequence.StandardKey.Find, self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self.focus_search)
        self.search.returnPressed.connect(lambda: self.select_row(0))

    def set_test_channel(self, available: bool) -> None:
        """Offer the test chat (local mode) in the header and in the empty inbox."""
        self.test_chat.setHidden(not available)
        if self.empty.button is not None:
            self.empty.button.setHidden(not available)

    def set_empty_reason(self, has_conversations: bool) -> None:
        """An empty list says why: nothing yet, or nothing that matches the filters."""
        can_try = not self.test_chat.isHidden()
        if has_conversations:
            self.empty.set_text(
                "Nothing matches",
                "Clear the search, or choose “All conversations” and “All channels”.",
            )
        else:
            self.empty.set_text(
                "No conversations yet",
                "When customers write on a connected channel, their messages show up here."
                + (" Try it now: write to your shop as a customer would." if can_try else ""),
            )
        if self.empty.button is not None:
            self.empty.button.setHidden(has_conversations or not can_try)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def set_channels(self, channels: Sequence[Channel]) -> None:
        current = self.channel_filter.currentData()
        self.channel_filter.blockSignals(True)
        try:
            while self.channel_filter.count() > 1:
                self.channel_filter.removeItem(1)
            for channel in channels:
                name = channel.name or PLATFORM_NAMES.get(channel.platform, channel.platform)
                self.channel_filter.addItem(channel_icon(channel.platform), name, channel.id)
            index = self.channel_filter.findData(current)
            self.channel_filter.setCurrentIndex(max(index, 0))
        finally:
            self.channel_filter.blockSignals(False)
        if self.channel_filter.currentData() != current:
            self.filter_changed.emit()

    def filters(self) -> tuple[str | None, tuple[str, ...], bool, bool]:
        """(channel id, statuses, unread only, drafts waiting only) as chosen."""
        channel = self.channel_filter.currentData()
        row = self.status_filter.currentIndex()
        if not 0 <= row < len(STATUS_FILTERS):
            row = 1  # a label: every status
        _, statuses, unread, pending = STATUS_FILTERS[row]
        return (channel if isinstance(channel, str) else None, statuses, unread, pending)

    @property
    def needs_person(self) -> bool:
        return self.status_filter.currentText() == "Needs a person"

    @property
    def label(self) -> str | None:
        """The label chosen in the filter (listed after the statuses), if any."""
        value = self.status_filter.currentData()
        return value if isinstance(value, str) else None

    def set_labels(self, labels: Sequence[str]) -> None:
        """Offer each label in use as a filter, below the statuses."""
        box = self.status_filter
        chosen = self.label
        shown = [box.itemData(i) for i in range(len(STATUS_FILTERS), box.count())]
        if shown == list(labels):
            return
        box.blockSignals(True)
        while box.count() > len(STATUS_FILTERS):
            box.removeItem(box.count() - 1)
        if labels:
            box.insertSeparator(box.count())
        for name in labels:
            box.addItem(icon("tag"), f"Label: {name}", name)
        if chosen in labels:
            box.setCurrentIndex(box.findData(chosen))
        elif chosen is not None:
            box.setCurrentIndex(1)
        box.blockSignals(False)

    def show_all(self) -> None:
        """Reset the filters to every conversation (a notification was clicked...)."""
        self.search.clear()
        self.channel_filter.setCurrentIndex(0)
        self.status_filter.setCurrentIndex(1)
