"""One conversation on screen: header, bubbles, the draft, the composer and the details."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import QFrame, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from desktop.core.store import Conversation, Draft, Message
from desktop.ui.widgets.common import Banner, EmptyState, tool_button
from desktop.ui.widgets.details import DetailsPane
from desktop.ui.widgets.draft_panel import Citation, Composer, DraftPanel, SavedReply
from desktop.ui.widgets.thread import ThreadHeader, ThreadView

__all__ = ["NARROW_PANE", "ConversationPane"]

#: Below this width (a 1280-pixel window and smaller) the details column folds away.
NARROW_PANE = 800


class ConversationPane(QStackedWidget):
    """Everything about the open conversation; emits what the owner asks for.

    The pane knows no engine: a :class:`~desktop.ui.controllers.conversation.
    ConversationController` fills it and carries out its requests.
    """

    approve_requested = Signal(int, object)
    discard_requested = Signal(int)
    regenerate_requested = Signal()
    send_requested = Signal(str)
    save_reply_requested = Signal(str)
    retry_requested = Signal(int)
    arrived_confirmed = Signal(int)
    citation_requested = Signal(str)
    link_activated = Signal(str)

    def __init__(
        self, empty_text: str = "Pick a conversation on the left.", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.conversation: Conversation | None = None
        self.empty = EmptyState("nav-inbox", "No conversation open", empty_text)
        self.addWidget(self.empty)

        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.header = ThreadHeader()
        self.resolve_button = tool_button(
            "resolve", "Mark as resolved", text="Resolve", kind="default"
        )
        self.details_button = tool_button("note", "Show or hide details, labels and notes")
        self.details_button.setCheckable(True)
        self.details_button.setChecked(True)
        self.header.action_row.addWidget(self.resolve_button)
        self.header.action_row.addWidget(self.details_button)
        outer.addWidget(self.header)
        self.banner = Banner(margins=(12, 8, 12, 0))
        outer.addWidget(self.banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.setSpacing(0)
        self.thread_view = ThreadView()
        column_layout.addWidget(self.thread_view, 1)
        self.bottom = QFrame()
        self.bottom.setObjectName("DraftPanel")
        bottom_layout = QVBoxLayout(self.bottom)
        bottom_layout.setContentsMargins(12, 10, 12, 2)
        bottom_layout.setSpacing(2)
        self.draft_panel = DraftPanel()
        self.composer = Composer()
        self.composer.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.draft_panel)
        bottom_layout.addWidget(self.composer)
        column_layout.addWidget(self.bottom)
        self.details = DetailsPane()
        self.splitter.addWidget(column)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        outer.addWidget(self.splitter, 1)
        self.addWidget(page)
        self._page = page

        self.draft_panel.approve_requested.connect(self.approve_requested)
        self.draft_panel.discard_requested.connect(self.discard_requested)
        self.draft_panel.regenerate_requested.connect(self.regenerate_requested)
        self.draft_panel.citation_requested.connect(self.citation_requested)
        self.composer.send_requested.connect(self.send_requested)
        self.composer.save_reply_requested.connect(self.save_reply_requested)
        self.thread_view.retry_requested.connect(self.retry_requested)
        self.thread_view.arrived_confirmed.connect(self.arrived_confirmed)
        self.thread_view.link_activated.connect(self.link_activated)
        self.details_button.toggled.connect(self._details_toggled)
        #: The owner's choice for a wide pane; a narrow one folds the details away.
        self._details_wanted = True
        self.narrow = False
        self.resolve_button.clicked.connect(
            lambda: self.details.status_requested.emit("resolved", None)
        )
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), page)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.send_or_approve)
        # The text boxes see Ctrl+Enter first (they would insert a line): catch it there.
        self.composer.editor.installEventFilter(self)
        self.draft_panel.editor.installEventFilter(self)

    def _details_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        if not self.narrow:
            self._details_wanted = shown

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        narrow = self.width() < NARROW_PANE
        if narrow != self.narrow:
            self.narrow = narrow
            # Below the line the details fold into the header's toggle; widening again
            # brings back what the owner last chose on a wide pane.
            self.details_button.setChecked(False if narrow else self._details_wanted)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride) and isinstance(
            event, QKeyEvent
        ):
            ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
            if ctrl and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    self.send_or_approve()
                return True
        return super().eventFilter(watched, event)

    def send_or_approve(self) -> None:
        """Ctrl+Enter: send what the owner wrote, else approve the draft."""
        if self.composer.text.strip():
            self.composer.send()
        else:
            self.draft_panel.approve()

    def show_empty(self, title: str | None = None, text: str | None = None) -> None:
        self.conversation = None
        self.draft_panel.set_draft(None)
        if title is not None:
            self.empty.set_text(title, text or "")
        self.setCurrentWidget(self.empty)

    def set_conversation(self, c: Conversation) -> None:
        if self.conversation is None or self.conversation.id != c.id:
            self.banner.hide()
            self.composer.editor.clear()
        self.conversation = c
        self.header.set_conversation(c)
        self.details.set_conversation(c)
        self.resolve_button.setEnabled(c.status != "resolved")
        self.setCurrentWidget(self._page)

    def set_messages(self, messages: list[Message]) -> None:
        conversation_id = self.conversation.id if self.conversation else None
        self.thread_view.set_messages(conversation_id, messages)

    def upsert_messages(self, messages: Sequence[Message]) -> None:
        self.thread_view.messages.upsert(messages)

    def set_draft(self, draft: Draft | None, citations: Sequence[Citation] = ()) -> None:
        self.draft_panel.set_draft(draft, citations)
        self.composer.hint.setVisible(draft is None or not self.composer.text)

    def set_saved_replies(self, replies: Sequence[SavedReply]) -> None:
        self.composer.set_saved_replies(replies)

    def show_error(self, text: str) -> None:
        self.banner.show_message("error", text)

    def show_info(self, text: str) -> None:
        self.banner.show_message("info", text, timeout_ms=6000)
