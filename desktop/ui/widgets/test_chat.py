"""The built-in test channel: the owner writes as a customer and watches the draft appear."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLineEdit, QToolButton, QVBoxLayout, QWidget

from desktop.ui.widgets.common import Banner, button, label

__all__ = ["TestChatDialog"]

_EXAMPLES = (
    "A e keni këtë fustan në madhësinë M?",
    "Koliko košta dostava do Prizrena?",
    "Do you deliver on Saturdays?",
)


class TestChatDialog(QDialog):
    """Stays open beside the inbox; each message goes to the test channel as a customer's."""

    say_requested = Signal(str, str)  # text, customer name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Try it as a customer")
        self.setMinimumWidth(460)
        self.setModal(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(10)
        layout.addWidget(label("Write to your shop as a customer would", "heading"))
        layout.addWidget(
            label(
                "Your message arrives in the inbox through the built-in test channel, and the"
                " assistant drafts a reply from your knowledge base, just as it will for real"
                " customers.",
                "muted",
                wrap=True,
            )
        )
        self.name = QLineEdit("Test customer")
        self.name.setAccessibleName("Customer name")
        row = QHBoxLayout()
        row.addWidget(label("Name", "hint"))
        row.addWidget(self.name, 1)
        layout.addLayout(row)
        self.text = QLineEdit()
        self.text.setPlaceholderText(f"e.g. {_EXAMPLES[0]}")
        self.text.setAccessibleName("Customer message")
        self.send = button("Send as customer", "send", "primary")
        row2 = QHBoxLayout()
        row2.addWidget(self.text, 1)
        row2.addWidget(self.send)
        layout.addLayout(row2)
        layout.addWidget(label("Or try one of these:", "hint"))
        examples = QVBoxLayout()
        examples.setSpacing(4)
        for example in _EXAMPLES:
            chip = QToolButton()
            chip.setProperty("kind", "chip")
            chip.setText(example)
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _=False, e=example: self.text.setText(e))
            examples.addWidget(chip, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(examples)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.send.clicked.connect(self._send)
        self.text.returnPressed.connect(self._send)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def _send(self) -> None:
        text = self.text.text().strip()
        if not text:
            self.text.setFocus()
            return
        self.send.setEnabled(False)
        self.say_requested.emit(text, self.name.text().strip() or "Test customer")

    def sent(self) -> None:
        self.text.clear()
        self.send.setEnabled(True)
        self.banner.show_message(
            "success", "Sent. Watch the inbox: a draft appears in a moment.", timeout_ms=5000
        )
        self.text.setFocus()

    def failed(self, words: str) -> None:
        self.send.setEnabled(True)
        self.banner.show_message("error", words)
