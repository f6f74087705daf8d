"""Saved replies: short texts the owner reuses, kept as JSON in the data folder.

The engine has no place for them yet, so the UI keeps them itself (one small file,
written atomically); every composer and the settings screen share one instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from PySide6.QtCore import QObject, Signal

__all__ = ["SavedReplies"]


class _Reply(msgspec.Struct, frozen=True):
    title: str
    text: str


_DEFAULTS = (
    _Reply("Thanks, we'll check", "Thank you! Let me check that for you and get back shortly."),
    _Reply("Faleminderit", "Faleminderit për mesazhin! Do t'ju përgjigjemi së shpejti."),
    _Reply("Hvala", "Hvala na poruci! Javićemo vam se uskoro."),
)


class SavedReplies(QObject):
    """The list of saved replies; ``changed`` fires after every edit."""

    changed = Signal()

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._items: list[_Reply] = list(_DEFAULTS)
        if path.exists():
            try:
                self._items = msgspec.json.decode(path.read_bytes(), type=list[_Reply])
            except (msgspec.DecodeError, OSError):
                self._items = list(_DEFAULTS)  # a damaged file must not stop the app

    def items(self) -> list[tuple[str, str]]:
        return [(r.title, r.text) for r in self._items]

    def add(self, text: str, title: str | None = None) -> None:
        text = text.strip()
        if not text:
            return
        name = (title or " ".join(text.split()))[:40].strip()
        if len(text) > 40 and title is None:
            name = name.rstrip(".,;: ") + "…"
        self._items = [r for r in self._items if r.text != text] + [_Reply(name, text)]
        self._save()

    def remove(self, index: int) -> None:
        if 0 <= index < len(self._items):
            del self._items[index]
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(self._items))
        os.replace(tmp, self.path)
        self.changed.emit()
