"""The messages of one conversation, oldest first, updated in place as receipts arrive."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Final

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop.core.store import Message

__all__ = ["MESSAGE_ROLE", "MessageListModel"]

#: ``data(index, MESSAGE_ROLE)`` is the row's :class:`Message`.
MESSAGE_ROLE: Final = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def _key(m: Message) -> tuple[int, int]:
    return (m.timestamp_ms, m.id)


class MessageListModel(QAbstractListModel):
    """One conversation's messages in the order they were written."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.conversation_id: int | None = None
        self._items: list[Message] = []
        self._keys: list[tuple[int, int]] = []
        self._rows: dict[int, int] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        message = self._items[index.row()]
        if role == MESSAGE_ROLE:
            return message
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            who = (
                "Customer"
                if message.direction == "in"
                else "Clientora, while you were away"
                if message.author == "server"
                else "You"
            )
            return f"{who}: {message.text or ''}"
        return None

    def at(self, row: int) -> Message:
        return self._items[row]

    def messages(self) -> list[Message]:
        return list(self._items)

    def get(self, message_id: int) -> Message | None:
        row = self._rows.get(message_id)
        return None if row is None else self._items[row]

    def set_messages(self, conversation_id: int | None, messages: Iterable[Message]) -> None:
        ordered = sorted(messages, key=_key)
        self.beginResetModel()
        self.conversation_id = conversation_id
        self._items = ordered
        self._keys = [_key(m) for m in ordered]
        self._rows = {m.id: i for i, m in enumerate(ordered)}
        self.endResetModel()

    def upsert(self, messages: Sequence[Message]) -> None:
        """Add new messages in order and replace changed ones (status, reaction, error)."""
        for message in messages:
            if message.conversation_id != self.conversation_id:
                continue
            row = self._rows.get(message.id)
            if row is not None and self._keys[row] == _key(message):
                self._items[row] = message
                index = self.index(row)
                self.dataChanged.emit(index, index)
                continue
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                del self._keys[row]
                self._reindex()
                self.endRemoveRows()
            at = bisect.bisect_left(self._keys, _key(message))
            self.beginInsertRows(QModelIndex(), at, at)
            self._items.insert(at, message)
            self._keys.insert(at, _key(message))
            self._reindex()
            self.endInsertRows()
            if at + 1 < len(self._items):
                # The next row's day separator may no longer be needed.
                following = self.index(at + 1)
                self.dataChanged.emit(following, following)

    def _reindex(self) -> None:
        self._rows = {m.id: i for i, m in enumerate(self._items)}
