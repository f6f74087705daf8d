"""Editing an imported document: its name, and the file it is read from (replace it)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.core.kb.models import ItemInfo
from desktop.ui.widgets.common import Banner, button, label

__all__ = ["DocumentDialog"]

DOCUMENT_FILTER = "Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm)"


class DocumentDialog(QDialog):
    """Rename a document, or read a newer (or another) file into it. The item stays the
    same one: the assistant's answers keep pointing at it."""

    rename_requested = Signal(str, str)  # item id, new name
    replace_requested = Signal(str, str)  # item id, file path

    def __init__(self, item: ItemInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setWindowTitle("Edit document")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        self.banner = Banner()
        layout.addWidget(self.banner)
        form = QFormLayout()
        self.name = QLineEdit(item.title)
        self.name.setAccessibleName("Document name")
        form.addRow("Name", self.name)
        self.source = label(item.source, "muted", wrap=True, selectable=True)
        form.addRow("File", self.source)
        form.addRow("", label(f"{item.chunks:,} sections", "hint"))
        layout.addLayout(form)
        actions = QHBoxLayout()
        self.replace_button = button(
            "Replace file…", "import", tip="Read a newer or another file into this document"
        )
        self.save_button = button("Save name", "tick", "primary")
        close = button("Close")
        self.replace_button.clicked.connect(self.choose_file)
        self.save_button.clicked.connect(self._save)
        self.name.returnPressed.connect(self._save)
        close.clicked.connect(self.reject)
        actions.addWidget(self.replace_button)
        actions.addStretch(1)
        actions.addWidget(close)
        actions.addWidget(self.save_button)
        layout.addLayout(actions)

    def _save(self) -> None:
        name = " ".join(self.name.text().split())
        if not name:
            self.banner.show_message("warning", "Give the document a name.")
            self.name.setFocus()
            return
        self._busy(True)
        self.rename_requested.emit(self.item.item_id, name)

    def choose_file(self) -> QFileDialog:
        dialog = QFileDialog(self, "Replace the document's file")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([DOCUMENT_FILTER, "All files (*)"])
        dialog.fileSelected.connect(self.replace_with)
        dialog.open()
        return dialog

    def replace_with(self, path: str) -> None:
        self._busy(True)
        self.replace_requested.emit(self.item.item_id, path)

    def _busy(self, busy: bool) -> None:
        for widget in (self.save_button, self.replace_button, self.name):
            widget.setEnabled(not busy)

    def done_with(self, item: ItemInfo | None, words: str, ok: bool) -> None:
        """The outcome of a rename or a replacement: the fresh item and a sentence."""
        self._busy(False)
        if item is not None:
            self.item = item
            self.name.setText(item.title)
            self.source.setText(item.source)
        self.banner.show_message("success" if ok else "error", words)
