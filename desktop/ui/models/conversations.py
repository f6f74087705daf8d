"""The conversation list: a model kept in order as updates arrive, and its filter proxy."""

from __future__ import annotations

import bisect
import functools
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
    return _folded(c.customer.name or "", c.customer.phone or "", c.last_message_preview or "")


@functools.lru_cache(maxsize=4096)
def _folded(name: str, phone: str, preview: str) -> str:
    # Lists reload the same rows again and again (the expiring queue on every change):
    # folding is per character, so each row is folded once while it stays the same.
    return fold(" \x00 ".join((name, phone, preview)))


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
        return self.value(index.row(), role)

    def value(self, row: int, role: int) -> object:
        """``data()`` of a row known to exist (the filter asks without building an index)."""
        conversation = self._items[row]
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
            return self._folded[row]
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

    @property
    def items(self) -> Sequence[Conversation]:
        """Every row's conversation, in order (read-only: the filter walks it)."""
        return self._items

    @property
    def folded_keys(self) -> Sequence[str]:
        """Every row's :meth:`folded` text, in order."""
        return self._folded

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

    def replace(self, conversations: Iterable[Conversation]) -> None:
        """Make the list exactly ``conversations`` row by row: unlike a reset, the
        selection, the scroll position and unchanged rows stay as they are."""
        wanted = list(conversations)
        kept = {c.id for c in wanted}
        self.remove([c.id for c in self._items if c.id not in kept])
        self.upsert(wanted)

    def upsert(self, conversations: Sequence[Conversation]) -> None:
        """Add new conversations and update changed ones, moving rows to keep the order."""
        for conversation in conversations:
            self._upsert_one(conversation)

    def _upsert_one(self, c: Conversation) -> None:
        key = self._key(c)
        row = self._rows.get(c.id)
        if row is not None and self._items[row] == c:
            return  # nothing to show again
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
    no case, accents or script); the controller adds ids found by the store's full-text
    search over every message (:meth:`add_matches`).

    The filtering is done by :class:`_ShownRows` in whole passes; this proxy adds no
    Python of its own (no ``filterAcceptsRow``, no sorting), so the view's per-row calls
    (``index``, ``rowCount``: 1-2 per row at each relayout) stay in C++. A Python
    ``filterAcceptsRow`` cost 20-130 ms a keystroke over 10,000 conversations, and a
    Python list model in front of the view 10-30 ms a relayout.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shown = _ShownRows(self)

    def setSourceModel(self, model: object) -> None:
        assert isinstance(model, ConversationListModel)
        self._shown.set_source(model)
        super().setSourceModel(self._shown)

    @property
    def search_text(self) -> str:
        return self._shown.search_text

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
        self._shown.set_filter(
            channel_id=channel_id,
            statuses=statuses,
            unread_only=unread_only,
            pending_only=pending_only,
            needs_person=needs_person,
            label=label,
        )

    def set_search(self, text: str) -> None:
        """Filter by words the owner typed; clears ids found by an earlier full-text search."""
        self._shown.set_search(text)

    def add_matches(self, conversation_ids: Iterable[int]) -> None:
        """Also show these conversations (full-text hits in older messages)."""
        self._shown.add_matches(conversation_ids)

    def conversation(self, row: int) -> Conversation | None:
        if not 0 <= row < self.rowCount():
            return None
        return self._shown.conversation(self.mapToSource(self.index(row, 0)).row())

    def row_of(self, conversation_id: int) -> int | None:
        row = self._shown.row_of(conversation_id)
        if row is None:
            return None
        mapped = self.mapFromSource(self._shown.index(row))
        return mapped.row() if mapped.isValid() else None


class _ShownRows(QAbstractListModel):
    """The rows :class:`ConversationFilter` shows, as a list model over the source.

    A filter change is one pass of list comprehensions over the source's precomputed
    search keys (only over the rows still shown when the search only narrows) and one
    layout change; source changes touch only the rows they name.
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
        #: Source rows shown, ascending (the source keeps the order).
        self._rows: list[int] = []
        self._moving: tuple[int, int] | None = None
        self._removing: tuple[int, int, int, int] | None = None

    def set_source(self, model: ConversationListModel) -> None:
        """Filter ``model`` (once: the filter follows its signals from then on)."""
        if self._source is not None:
            raise RuntimeError("the filter already has its source model")
        self.beginResetModel()
        self._source = model
        model.modelAboutToBeReset.connect(self.beginResetModel)
        model.modelReset.connect(self._source_reset)
        model.rowsInserted.connect(self._source_inserted)
        model.rowsAboutToBeRemoved.connect(self._source_removing)
        model.rowsRemoved.connect(self._source_removed)
        model.rowsAboutToBeMoved.connect(self._source_moving)
        model.rowsMoved.connect(self._source_moved)
        model.dataChanged.connect(self._source_changed)
        self._rows = self._accepted(range(model.rowCount()))
        self.endResetModel()

    # ---- Qt interface -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        source = self._source
        if source is None or not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return source.value(self._rows[index.row()], role)

    # ---- filters ------------------------------------------------------------------------

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
        self._channel = channel_id
        self._statuses = frozenset(statuses)
        self._unread_only = unread_only
        self._pending_only = pending_only
        self._needs_person = needs_person
        self._label = label
        self._refilter(None)

    def set_search(self, text: str) -> None:
        """Filter by words the owner typed; clears ids found by an earlier full-text search."""
        words = fold(text).split()
        # Typing on narrows: each earlier word is still inside a new one, so only the rows
        # shown now can stay (rows shown only as full-text matches fall out anyway).
        narrows = all(any(old in new for new in words) for old in self._words)
        self._words = words
        self._extra = frozenset()
        self._refilter(self._rows if narrows else None)

    def add_matches(self, conversation_ids: Iterable[int]) -> None:
        """Also show these conversations (full-text hits in older messages)."""
        source = self._source
        new = frozenset(conversation_ids) - self._extra
        if not new:
            return
        self._extra |= new
        if source is None or not self._words:
            return
        candidates = sorted(r for i in new if (r := source.row_of(i)) is not None)
        shown = set(self._rows)
        added = [r for r in self._base(candidates) if r not in shown]
        if added:
            self._show(sorted(self._rows + added))

    def conversation(self, row: int) -> Conversation | None:
        source = self._source
        if source is None or not 0 <= row < len(self._rows):
            return None
        return source.at(self._rows[row])

    def row_of(self, conversation_id: int) -> int | None:
        source = self._source
        row = None if source is None else source.row_of(conversation_id)
        return None if row is None else self._proxy_row(row)

    def _proxy_row(self, source_row: int) -> int | None:
        at = bisect.bisect_left(self._rows, source_row)
        return at if at < len(self._rows) and self._rows[at] == source_row else None

    # ---- filtering ------------------------------------------------------------------------

    def _base(self, rows: Iterable[int]) -> list[int]:
        """Of ``rows``, those every filter but the search text accepts."""
        source = self._source
        assert source is not None
        items = source.items
        kept = list(rows)
        if (channel := self._channel) is not None:
            kept = [r for r in kept if items[r].channel_id == channel]
        if statuses := self._statuses:
            kept = [r for r in kept if items[r].status in statuses]
        if self._unread_only:
            kept = [r for r in kept if items[r].unread]
        if self._pending_only:
            kept = [r for r in kept if items[r].has_pending_draft]
        if self._needs_person:
            kept = [r for r in kept if items[r].needs_person]
        if (label := self._label) is not None:
            kept = [r for r in kept if label in items[r].labels]
        return kept

    def _accepted(self, rows: Iterable[int]) -> list[int]:
        """Of ``rows`` (ascending), those to show."""
        source = self._source
        if source is None:
            return []
        kept = self._base(rows)
        if not self._words:
            return kept
        folded, items, extra = source.folded_keys, source.items, self._extra
        matched = kept
        for word in self._words:
            matched = [r for r in matched if word in folded[r]]
        if extra:
            found = {r for r in kept if items[r].id in extra}
            if found:
                return sorted(found.union(matched))
        return matched

    def _refilter(self, candidates: list[int] | None) -> None:
        source = self._source
        if source is None:
            return
        self._show(self._accepted(range(source.rowCount()) if candidates is None else candidates))

    def _show(self, rows: list[int]) -> None:
        """Show ``rows`` in one layout change, keeping the selection where it still shows."""
        if rows == self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        old = self._rows
        self._rows = rows
        after = []
        for index in before:
            moved = self._proxy_row(old[index.row()]) if 0 <= index.row() < len(old) else None
            after.append(QModelIndex() if moved is None else self.index(moved))
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    # ---- following the source ----------------------------------------------------------------

    def _source_reset(self) -> None:
        source = self._source
        self._rows = [] if source is None else self._accepted(range(source.rowCount()))
        self.endResetModel()

    def _source_inserted(self, parent: _Index, first: int, last: int) -> None:
        count = last - first + 1
        at = bisect.bisect_left(self._rows, first)
        rows = self._rows
        for i in range(at, len(rows)):
            rows[i] += count
        added = self._accepted(range(first, last + 1))
        if added:
            self.beginInsertRows(QModelIndex(), at, at + len(added) - 1)
            rows[at:at] = added
            self.endInsertRows()

    def _source_removing(self, parent: _Index, first: int, last: int) -> None:
        start = bisect.bisect_left(self._rows, first)
        stop = bisect.bisect_right(self._rows, last)
        self._removing = (first, last, start, stop)
        if stop > start:
            self.beginRemoveRows(QModelIndex(), start, stop - 1)

    def _source_removed(self, parent: _Index, first: int, last: int) -> None:
        assert self._removing is not None
        _, _, start, stop = self._removing
        self._removing = None
        rows = self._rows
        del rows[start:stop]
        count = last - first + 1
        for i in range(start, len(rows)):
            rows[i] -= count
        if stop > start:
            self.endRemoveRows()

    def _source_moving(
        self, parent: _Index, start: int, end: int, destination_parent: _Index, destination: int
    ) -> None:
        # The source moves one row at a time (``upsert``); its neighbours keep their order.
        assert start == end
        target = destination if destination < start else destination - 1
        self._moving = (start, target)
        old = self._proxy_row(start)
        if old is None:
            return
        # Where the row lands among the other shown rows.
        new = bisect.bisect_left(self._rows, target + (1 if target > start else 0))
        if target > start:
            new -= 1
        if new != old:
            self.beginMoveRows(
                QModelIndex(), old, old, QModelIndex(), new if new < old else new + 1
            )

    def _source_moved(self, *_: object) -> None:
        assert self._moving is not None
        start, target = self._moving
        self._moving = None
        old = self._proxy_row(start)
        rows = self._rows
        if target > start:
            lo, hi = bisect.bisect_right(rows, start), bisect.bisect_right(rows, target)
            for i in range(lo, hi):
                rows[i] -= 1
        else:
            lo, hi = bisect.bisect_left(rows, target), bisect.bisect_left(rows, start)
            for i in range(lo, hi):
                rows[i] += 1
        if old is None:
            return
        del rows[old]
        new = bisect.bisect_left(rows, target)
        rows.insert(new, target)
        if new != old:
            self.endMoveRows()

    def _source_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, *_: object) -> None:
        first, last = top_left.row(), bottom_right.row()
        accepted = self._accepted(range(first, last + 1))
        start = bisect.bisect_left(self._rows, first)
        stop = bisect.bisect_right(self._rows, last)
        if accepted != self._rows[start:stop]:
            if last - first > 8:
                self._show(self._rows[:start] + accepted + self._rows[stop:])
            else:
                self._update_rows(first, last, accepted)
            start = bisect.bisect_left(self._rows, first)
            stop = bisect.bisect_right(self._rows, last)
        if stop > start:
            self.dataChanged.emit(self.index(start), self.index(stop - 1))

    def _update_rows(self, first: int, last: int, accepted: list[int]) -> None:
        """Insert or remove the few rows of ``first..last`` whose filter answer changed."""
        keep = set(accepted)
        for row in range(first, last + 1):
            at = self._proxy_row(row)
            if at is not None and row not in keep:
                self.beginRemoveRows(QModelIndex(), at, at)
                del self._rows[at]
                self.endRemoveRows()
            elif at is None and row in keep:
                at = bisect.bisect_left(self._rows, row)
                self.beginInsertRows(QModelIndex(), at, at)
                self._rows.insert(at, row)
                self.endInsertRows()
