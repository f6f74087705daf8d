"""The approval queue: every pending draft with its conversation, oldest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop.core.store import Conversation, Draft
from desktop.ui.models.conversations import CONVERSATION_ROLE

__all__ = ["DRAFT_ROLE", "ApprovalQueueModel", "QueueItem"]

#: ``data(index, DRAFT_ROLE)`` is the row's pending :class:`Draft`.
DRAFT_ROLE: Final = Qt.ItemDataRole.UserRole + 3
_Index = QModelIndex | QPersistentModelIndex

QueueItem = tuple[Draft, Conversation]


class ApprovalQueueModel(QAbstractListModel):
    """Pending drafts; each row also answers ``CONVERSATION_ROLE`` for the row painter."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[QueueItem] = []

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        draft, conversation = self._items[index.row()]
        if role == DRAFT_ROLE:
            return draft
        if role == CONVERSATION_ROLE:
            return conversation
        if role == Qt.ItemDataRole.DisplayRole:
            return conversation.customer.name or conversation.customer.platform_id
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return draft.text
        return None

    def at(self, row: int) -> QueueItem:
        return self._items[row]

    def row_of_conversation(self, conversation_id: int) -> int | None:
        for row, (_, conversation) in enumerate(self._items):
            if conversation.id == conversation_id:
                return row
        return None

    def set_items(self, items: Iterable[QueueItem]) -> None:
        """Replace the queue by removing and inserting rows (one row a conversation), so the
        selection and the open draft stay put; only a change of order resets the model."""
        new = list(items)
        wanted = {c.id for _, c in new}
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row][1].id not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()
        kept = [c.id for _, c in self._items]
        staying = set(kept)
        if kept != [c.id for _, c in new if c.id in staying]:
            self.beginResetModel()
            self._items = new
            self.endResetModel()
            return
        for row, item in enumerate(new):
            if row >= len(self._items) or self._items[row][1].id != item[1].id:
                self.beginInsertRows(QModelIndex(), row, row)
                self._items.insert(row, item)
                self.endInsertRows()
        self._items = new
        if new:
            self.dataChanged.emit(self.index(0), self.index(len(new) - 1))
