"""Knowledge items in tables (one per type) and the passages an "ask" retrieved."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from urllib.parse import urlsplit

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from desktop.core.kb.models import ItemInfo, ItemType, SearchHit

__all__ = ["HIT_ROLE", "ITEM_ROLE", "HitsModel", "KnowledgeItemsModel", "Site", "sites"]

ITEM_ROLE: Final = Qt.ItemDataRole.UserRole + 1
HIT_ROLE: Final = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex

_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "faq": ("Question", "Answer", "Also asked as", "Updated"),
    "offer": ("Offer", "Price", "Valid", "Description"),
    "document": ("Document", "File", "Sections", "Updated"),
    "web": ("Page", "Address", "Sections", "Updated"),
}


def _day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value.strftime('%b %Y')}"


def _validity(item: ItemInfo, today: date) -> str:
    if item.valid_from is None and item.valid_until is None:
        return "Always"
    if item.valid_until is not None and item.valid_until < today:
        return f"Ended {_day(item.valid_until)}"
    if item.valid_from is not None and item.valid_from > today:
        return f"From {_day(item.valid_from)}"
    if item.valid_until is not None:
        return f"Until {_day(item.valid_until)}"
    return f"From {_day(item.valid_from)}"


def _short(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class KnowledgeItemsModel(QAbstractTableModel):
    """Items of one type, newest change first, with columns that suit the type."""

    def __init__(self, item_type: ItemType, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.item_type = item_type
        self._items: list[ItemInfo] = []
        self._columns = _COLUMNS[item_type]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self._columns)
        ):
            return self._columns[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == ITEM_ROLE:
            return item
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.text or item.source or item.title
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return item.title
        values: dict[str, tuple[str, str, str]] = {
            "faq": (_short(item.text), "; ".join(item.alternatives), _day(item.updated_at)),
            "offer": (item.price or "", _validity(item, date.today()), _short(item.text)),
            "document": (item.source.rsplit("/", 1)[-1], str(item.chunks), _day(item.updated_at)),
            "web": (item.source, str(item.chunks), _day(item.updated_at)),
        }
        return values[self.item_type][column - 1]

    def set_items(self, items: Iterable[ItemInfo]) -> None:
        ordered = sorted(
            (i for i in items if i.item_type == self.item_type),
            key=lambda i: i.updated_at or i.created_at or datetime.min,
            reverse=True,
        )
        self.beginResetModel()
        self._items = ordered
        self.endResetModel()

    def at(self, row: int) -> ItemInfo:
        return self._items[row]

    def row_of(self, item_id: str) -> int | None:
        for row, item in enumerate(self._items):
            if item.item_id == item_id:
                return row
        return None


class HitsModel(QAbstractListModel):
    """What a test question retrieved, best first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hits: list[SearchHit] = []

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        if role == HIT_ROLE:
            return hit
        if role == Qt.ItemDataRole.DisplayRole:
            where = " › ".join(hit.heading_path)
            head = f"{index.row() + 1}. {hit.title}" + (f" — {where}" if where else "")
            return f"{head}\n{_short(hit.text, 180)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return hit.text
        return None

    def set_hits(self, hits: Iterable[SearchHit]) -> None:
        self.beginResetModel()
        self._hits = list(hits)
        self.endResetModel()

    def at(self, row: int) -> SearchHit:
        return self._hits[row]


@dataclass(frozen=True, slots=True)
class Site:
    """One imported website: its address, its pages and when it was last read."""

    host: str
    root: str  # where a re-sync starts: scheme://host/
    pages: tuple[str, ...]  # item ids
    synced: datetime | None


def _latest(pages: Sequence[ItemInfo]) -> datetime | None:
    times = [t for i in pages if (t := i.updated_at or i.created_at) is not None]
    return max(times) if times else None


def sites(items: Sequence[ItemInfo]) -> list[Site]:
    """Web pages grouped by site, largest first."""
    grouped: dict[str, list[ItemInfo]] = {}
    roots: dict[str, str] = {}
    for item in items:
        if item.item_type != "web":
            continue
        parts = urlsplit(item.source or "")
        host = parts.netloc.lower().removeprefix("www.") or "(no address)"
        grouped.setdefault(host, []).append(item)
        roots.setdefault(host, f"{parts.scheme or 'https'}://{parts.netloc}/")
    found = [
        Site(
            host=host,
            root=roots[host],
            pages=tuple(i.item_id for i in pages),
            synced=_latest(pages),
        )
        for host, pages in grouped.items()
    ]
    return sorted(found, key=lambda s: (-len(s.pages), s.host))
