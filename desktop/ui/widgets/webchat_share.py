"""Putting the web chat on the shop's site: the snippet to paste, the direct link, a QR code."""

from __future__ import annotations

import segno
from PySide6.QtCore import QRectF, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QFontDatabase, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.widgets.common import button, label

__all__ = ["WebChatDialog", "qr_pixmap", "webchat_links"]


def webchat_links(base_url: str, channel_id: str) -> tuple[str, str]:
    """(the chat page's address, the script tag that opens it from the shop's own site)."""
    base = base_url.rstrip("/")
    page = f"{base}/webchat/{channel_id}"
    return page, f'<script src="{page}/embed.js" async></script>'


def qr_pixmap(text: str, side: int = 180) -> QPixmap:
    """A QR code of ``text``, black on white (phones read it in either look)."""
    matrix = segno.make(text, error="m").matrix
    quiet = 4  # the blank border readers need
    cells = len(matrix) + 2 * quiet
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#000000"))
    cell = side / cells
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect(QRectF((x + quiet) * cell, (y + quiet) * cell, cell, cell))
    painter.end()
    return QPixmap.fromImage(image)


class WebChatDialog(QDialog):
    """Shown after the web chat connects, and from its card: everything to share it."""

    def __init__(self, base_url: str, channel_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Put the chat on your website")
        self.page_url, self.snippet_text = webchat_links(base_url, channel_id)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(label("Put the chat on your website", "heading"))
        layout.addWidget(
            label(
                "Paste this line into your site's pages, just before </body>. A chat button"
                " appears in the corner; messages arrive in your inbox.",
                "muted",
                wrap=True,
            )
        )
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.snippet = QPlainTextEdit(self.snippet_text)
        self.snippet.setReadOnly(True)
        self.snippet.setFont(mono)
        self.snippet.setFixedHeight(64)
        self.snippet.setAccessibleName("Code for your website")
        self.copy_snippet = button("Copy code", "copy", "primary")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        grid.addWidget(self.snippet, 0, 0, 1, 2)
        grid.addWidget(self.copy_snippet, 0, 2, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(
            label("Or share the chat's own page (a link, or the code to scan):"), 1, 0, 1, 3
        )
        self.link = QLineEdit(self.page_url)
        self.link.setReadOnly(True)
        self.link.setAccessibleName("Chat page address")
        self.copy_link = button("Copy link", "copy")
        self.open_link = button("Open", "link", "flat")
        grid.addWidget(self.link, 2, 0)
        grid.addWidget(self.open_link, 2, 1)
        grid.addWidget(self.copy_link, 2, 2)
        layout.addLayout(grid)
        self.qr = QLabel()
        self.qr.setPixmap(qr_pixmap(self.page_url))
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setAccessibleName("QR code of the chat page")
        layout.addWidget(self.qr)
        self.copied = label("", "hint")
        layout.addWidget(self.copied)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.copy_snippet.clicked.connect(lambda: self._copy(self.snippet_text, "Code copied."))
        self.copy_link.clicked.connect(lambda: self._copy(self.page_url, "Link copied."))
        self.open_link.clicked.connect(lambda: QDesktopServices.openUrl(QUrl(self.page_url)))
        self.resize(560, self.sizeHint().height())

    def _copy(self, text: str, words: str) -> None:
        clipboard = QApplication.clipboard()
        clipboard.setText(text)
        self.copied.setText(words)
