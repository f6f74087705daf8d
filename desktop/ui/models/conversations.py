"""The conversation list: a model kept in order as updates arrive, and its filter proxy."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from desktop.core.store import Conversation, ConversationStatus
from desktop.ui.text import fold

__all__ = ["CONVERSATION_ROLE", "ConversationFilter", "ConversationListModel", "Order"]

#: ``data(index, CONVERSATION_ROLE)`` is the row's :class:`Conversation`.
CONVERSATION_ROLE: Final = Qt.ItemDataRole.UserRole + 1
_FOLDED_ROLE: Final = Qt.ItemDataRole.UserRole + 2

#: ``recent``: newest activity first. ``window``: the messaging window closing soonest first.
Order = Literal["recent", "window"]
_Index = QModelIndex | QPersistentModelIndex
_NO_DEADLINE: Final = 1 << 62


def _recent_key(c: Conversation) -> tuple[int, int]:
    return (-c.last_activity_ms, -c.id)


def _window_key(c: Conversation) -> tuple[int, int]:
    return (c.window_deadline_ms if c.window_deadline_ms is not None else _NO_DEADLINE, -c.id)


def _haystack(c: Conversation) -> str:
    parts = (c.customer.name or "", c.customer.phone or "", c.last_message_preview or "")
    return fold(" \x00 ".join(parts))


class ConversationListModel(QAbstractListModel):
    """Conversations in a fixed order; :meth:`upsert` moves changed rows into place.

    The order lives here rather than in a sorting proxy: sorting 10,000 rows through
    Python comparisons would stall the window, while keeping a sorted list costs one
    ``bisect`` per change.
    """

    def __init__(self, order: Order = "recent", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._key: Callable[[Conversation], tuple[int, int]] = (
            _recent_key if order == "recent" else _window_key
        )
        self._items: list[Conversation] = []
        self._keys: list[tuple[int, int]] = []
        self._folded: list[str] = []
        self._rows: dict[int, int] = {}

    # ---- Qt interface -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        conversation = self._items[index.row()]
        if role == CONVERSATION_ROLE:
            return conversation
        if role == Qt.ItemDataRole.DisplayRole:
            return conversation.customer.name or conversation.customer.platform_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return conversation.last_message_preview
        if role == Qt.ItemDataRole.AccessibleTextRole:
            name = conversation.customer.name or "Customer"
            extra = f", {conversation.unread} unread" if conversation.unread else ""
            return f"{name}: {conversation.last_message_preview or ''}{extra}"
        if role == _FOLDED_ROLE:
            return self._folded[index.row()]
        return None

    # ---- access -------------------------------------------------------------------------

    def at(self, row: int) -> Conversation:
        return self._items[row]

    def labels(self) -> list[str]:
        """Every label in use, sorted (for the label filter)."""
        return sorted({name for c in self._items for name in c.labels}, key=str.casefold)

    def folded(self, row: int) -> str:
        """The row's searchable text (name, phone, last message), already folded."""
        return self._folded[row]

    def row_of(self, conversation_id: int) -> int | None:
        return self._rows.get(conversation_id)

    def get(self, conversation_id: int) -> Conversation | None:
        row = self._rows.get(conversation_id)
        return None if row is None else self._items[row]

    def ids(self) -> list[int]:
        return [c.id for c in self._items]

    # ---- changes ------------------------------------------------------------------------

    def set_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Replace everything (first load, or a full reload)."""
        ordered = sorted(conversations, key=self._key)
        self.beginResetModel()
        self._items = ordered
        self._keys = [self._key(c) for c in ordered]
        self._folded = [_haystack(c) for c in ordered]
        self._rows = {c.id: i for i, c in enumerate(ordered)}
        self.endResetModel()

    def upsert(self, conversations: Sequence[Conversation]) -> None:
        """Add new conversations and update changed ones, moving rows to keep the order."""
        for conversation in conversations:
            self._upsert_one(conversation)

    def _upsert_one(self, c: Conversation) -> None:
        key = self._key(c)
        row = self._rows.get(c.id)
        if row is None:
            at = bisect.bisect_left(self._keys, key)
            self.beginInsertRows(QModelIndex(), at, at)
            self._items.insert(at, c)
            self._keys.insert(at, key)
            self._folded.insert(at, _haystack(c))
            self._reindex(at, len(self._items))
            self.endInsertRows()
            return
        if self._keys[row] == key:
            self._items[row] = c
            self._folded[row] = _haystack(c)
            index = self.index(row)
            self.dataChanged.emit(index, index)
            return
        # Where the row goes once it is taken out of its old place (keys are unique).
        at = bisect.bisect_left(self._keys, key)
        if at > row:
            at -= 1
        if at == row:
            self._keys[row] = key
            self._items[row] = c
            self._folded[row] = _haystack(c)
            index = self.index(row)
            self.dataChanged.emit(index, index)
            return
        destination = at if at < row else at + 1  # Qt counts the row still in place
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)
        del self._keys[row]
        del self._items[row]
        del self._folded[row]
        self._keys.insert(at, key)
        self._items.insert(at, c)
        self._folded.insert(at, _haystack(c))
        self._reindex(min(row, at), max(row, at) + 1)
        self.endMoveRows()
        index = self.index(at)
        self.dataChanged.emit(index, index)

    def remove(self, conversation_ids: Iterable[int]) -> None:
        for conversation_id in conversation_ids:
            row = self._rows.get(conversation_id)
            if row is None:
                continue
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            del self._keys[row]
            del self._folded[row]
            del self._rows[conversation_id]
            self._reindex(row, len(self._items))
            self.endRemoveRows()

    def _reindex(self, start: int, stop: int) -> None:
        for i in range(start, min(stop, len(self._items))):
            self._rows[self._items[i].id] = i

    def refresh_all(self) -> None:
        """Repaint every row (countdowns and "5 min ago" move on without new data)."""
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))


class ConversationFilter(QSortFilterProxyModel):
    """Filters the list by channel, status, unread, waiting drafts, a hand-off, a label,
    and search text.

    Search matches the customer's name, phone and last message here at once (folded:
    no case, accents or script); the controller adds ``extra_ids`` found by the
    store's full-text search over every message.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._channel: str | None = None
        self._statuses: frozenset[ConversationStatus] = frozenset()
        self._unread_only = False
        self._pending_only = False
        self._needs_person = False
        self._label: str | None = None
        self._words: list[str] = []
        self._extra: frozenset[int] = frozenset()
        self._source: ConversationListModel | None = None
        self.setDynamicSortFilter(True)  # no sort column: only re-filters changed rows

    def setSourceModel(self, model: object) -> None:
        assert isinstance(model, ConversationListModel)
        self._source = model
        super().setSourceModel(model)

    @property
    def search_text(self) -> str:
        return " ".join(self._words)

    def set_filter(
        self,
        *,
        channel_id: str | None = None,
        statuses: Iterable[ConversationStatus] = (),
        unread_only: bool = False,
        pending_only: bool = False,
        needs_person: bool = False,
        label: str | None = None,
    ) -> None:
        self.beginFilterChange()
        self._channel = channel_id
        self._statuses = frozenset(statuses)
        self._unread_only = unread_only
        self._pending_only = pending_only
        self._needs_person = needs_person
        self._label = label
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_search(self, text: str) -> None:
        """Filter by words the owner typed; clears ids found by an earlier full-text search."""
        self.beginFilterChange()
        self._words = fold(text).split()
        self._extra = frozenset()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def add_matches(self, conversation_ids: Iterable[int]) -> None:
        """Also show these conversations (full-text hits in older messages)."""
        extra = self._extra | frozenset(conversation_ids)
        if extra == self._extra:
            return
        self.beginFilterChange()
        self._extra = extra
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        source = self._source
        if source is None:
            return True
        c = source.at(source_row)
        if self._channel is not None and c.channel_id != self._channel:
            return False
        if self._statuses and c.status not in self._statuses:
            return False
        if self._unread_only and not c.unread:
            return False
        if self._pending_only and not c.has_pending_draft:
            return False
        if self._needs_person and not c.needs_person:
            return False
        if self._label is not None and self._label not in c.labels:
            return False
        if self._words:
            if c.id in self._extra:
                return True
            hay = source.folded(source_row)
            return all(w in hay for w in self._words)
        return True

    def conversation(self, row: int) -> Conversation | None:
        if not 0 <= row < self.rowCount():
            return None
        value = self.index(row, 0).data(CONVERSATION_ROLE)
        return value if isinstance(value, Conversation) else None

    def row_of(self, conversation_id: int) -> int | None:
        source = self._source
        if source is None:
            return None
        row = source.row_of(conversation_id)
        if row is None:
            return None
        mapped = self.mapFromSource(source.index(row))
        return mapped.row() if mapped.isValid() else None
