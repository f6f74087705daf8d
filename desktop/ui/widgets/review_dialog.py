"""Changes to review: re-synced web pages whose text changed, old and new side by side."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.core.kb.models import PendingChange
from desktop.ui.widgets.common import button, label

__all__ = ["ReviewDialog"]

_CHANGE_ROLE = Qt.ItemDataRole.UserRole + 1


class ReviewDialog(QDialog):
    """One changed page at a time: before, after, and accept or keep the old text.

    Until a change is accepted the assistant answers from the old text."""

    accept_requested = Signal(str)  # item id
    reject_requested = Signal(str)  # item id
    accept_all_requested = Signal()

    def __init__(self, changes: Sequence[PendingChange], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Website changes to review")
        self.resize(900, 520)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(
            label(
                "These pages changed on your website. The assistant keeps using the old text"
                " until you accept the new one.",
                "muted",
                wrap=True,
            )
        )
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.pages = QListWidget()
        self.pages.setAccessibleName("Changed pages")
        self.pages.setSpacing(3)
        self.pages.setWordWrap(True)
        self.pages.currentItemChanged.connect(self._show_current)
        splitter.addWidget(self.pages)
        texts = QWidget()
        grid = QGridLayout(texts)
        grid.setContentsMargins(0, 0, 0, 0)
        self.old_text = QPlainTextEdit(readOnly=True)
        self.old_text.setAccessibleName("Text in use now")
        self.new_text = QPlainTextEdit(readOnly=True)
        self.new_text.setAccessibleName("New text on the website")
        grid.addWidget(label("In use now", "section"), 0, 0)
        grid.addWidget(label("New on the website", "section"), 0, 1)
        grid.addWidget(self.old_text, 1, 0)
        grid.addWidget(self.new_text, 1, 1)
        splitter.addWidget(texts)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([240, 660])
        layout.addWidget(splitter, 1)
        self.empty = label("Nothing left to review.", "muted")
        layout.addWidget(self.empty)

        actions = QHBoxLayout()
        self.accept_button = button("Accept", "tick", "primary", tip="Use the new text from now on")
        self.reject_button = button("Keep old text", "discard", tip="Ignore this change")
        self.accept_all_button = button("Accept all", "ticks", tip="Use every new text")
        close = button("Close")
        self.accept_button.clicked.connect(lambda: self._emit(self.accept_requested))
        self.reject_button.clicked.connect(lambda: self._emit(self.reject_requested))
        self.accept_all_button.clicked.connect(self._accept_all)
        close.clicked.connect(self.reject)
        actions.addWidget(self.accept_button)
        actions.addWidget(self.reject_button)
        actions.addWidget(self.accept_all_button)
        actions.addStretch(1)
        actions.addWidget(close)
        layout.addLayout(actions)
        self.set_changes(changes)

    def current(self) -> PendingChange | None:
        item = self.pages.currentItem()
        change = item.data(_CHANGE_ROLE) if item is not None else None
        return change if isinstance(change, PendingChange) else None

    def set_changes(self, changes: Sequence[PendingChange]) -> None:
        """Show these changes; the selection stays on the same page, or the next one."""
        keep = self.current()
        row = max(self.pages.currentRow(), 0)
        self.pages.clear()
        for change in changes:
            item = QListWidgetItem(f"{change.title}\n{change.source}")
            item.setData(_CHANGE_ROLE, change)
            item.setToolTip(change.source)
            self.pages.addItem(item)
        ids = [c.item_id for c in changes]
        if keep is not None and keep.item_id in ids:
            row = ids.index(keep.item_id)
        if changes:
            self.pages.setCurrentRow(min(row, len(changes) - 1))
        else:
            self._show_current(None)
        for widget in (self.accept_button, self.reject_button, self.accept_all_button):
            widget.setEnabled(bool(changes))
        self.empty.setVisible(not changes)

    def _show_current(self, item: QListWidgetItem | None) -> None:
        change = item.data(_CHANGE_ROLE) if item is not None else None
        if not isinstance(change, PendingChange):
            change = None
        self.old_text.setPlainText(change.old_text if change else "")
        self.new_text.setPlainText(change.new_text if change else "")

    def _emit(self, signal: SignalInstance) -> None:
        change = self.current()
        if change is not None:
            for widget in (self.accept_button, self.reject_button, self.accept_all_button):
                widget.setEnabled(False)  # until the list comes back
            signal.emit(change.item_id)

    def _accept_all(self) -> None:
        for widget in (self.accept_button, self.reject_button, self.accept_all_button):
            widget.setEnabled(False)
        self.accept_all_requested.emit()
