"""The built-in test channel: the owner writes as one of several test customers and watches
the draft appear in the inbox beside it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.store import Message
from desktop.ui.widgets.common import Banner, button, label, tool_button

__all__ = ["FIRST_VISITOR", "TestChatDialog"]

#: The first test customer's id (the one the test channel had before there were several).
FIRST_VISITOR = "test-customer-0001"


class TestChatDialog(QDialog):
    """Stays open beside the inbox; each message goes to the test channel as the chosen
    customer's. "New customer" starts another conversation; the name renames only the
    customer chosen."""

    say_requested = Signal(str, str, str)  # text, customer name, visitor id
    #: Another test customer was chosen (their visitor id): show their conversation.
    visitor_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Try it as a customer")
        self.setMinimumWidth(420)
        self.setModal(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
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
        self.customers = QComboBox()
        self.customers.setAccessibleName("Test customer")
        self.customers.addItem("Test customer", FIRST_VISITOR)
        self.new_customer = tool_button(
            "plus", "Start a conversation as another customer", text="New customer"
        )
        row = QHBoxLayout()
        row.addWidget(label("Customer", "hint"))
        row.addWidget(self.customers, 1)
        row.addWidget(self.new_customer)
        layout.addLayout(row)
        self.name = QLineEdit("Test customer")
        self.name.setAccessibleName("Customer name")
        name_row = QHBoxLayout()
        name_row.addWidget(label("Name", "hint"))
        name_row.addWidget(self.name, 1)
        layout.addLayout(name_row)
        # What this customer sees on their side: their messages and the replies sent to
        # them (never drafts or notes), so the owner can judge a reply as a customer would.
        self.transcript = QPlainTextEdit(readOnly=True)
        self.transcript.setAccessibleName("What the customer sees")
        self.transcript.setPlaceholderText("No messages with this customer yet.")
        self.transcript.setFixedHeight(150)
        layout.addWidget(self.transcript)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Write a question…")
        self.text.setAccessibleName("Customer message")
        self.send = button("Send as customer", "send", "primary")
        row2 = QHBoxLayout()
        row2.addWidget(self.text, 1)
        row2.addWidget(self.send)
        layout.addLayout(row2)
        layout.addWidget(label("Or try one of these, from your own knowledge:", "hint"))
        self.examples = QVBoxLayout()
        self.examples.setSpacing(4)
        layout.addLayout(self.examples)
        self.chips: list[QToolButton] = []
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.send.clicked.connect(self._send)
        self.text.returnPressed.connect(self._send)
        self.new_customer.clicked.connect(self.add_customer)
        self.customers.currentIndexChanged.connect(self._customer_chosen)
        self.name.textEdited.connect(self._rename)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    @property
    def visitor(self) -> str:
        return str(self.customers.currentData() or FIRST_VISITOR)

    def add_customer(self) -> str:
        """Another test customer (a new conversation); returns its id."""
        visitor = f"test-{uuid.uuid4().hex[:12]}"
        self.customers.addItem(f"Test customer {self.customers.count() + 1}", visitor)
        self.customers.setCurrentIndex(self.customers.count() - 1)
        self.name.setFocus()
        self.name.selectAll()
        return visitor

    def _customer_chosen(self) -> None:
        self.name.setText(self.customers.currentText())
        self.transcript.clear()
        self.visitor_changed.emit(self.visitor)

    def set_transcript(self, messages: Sequence[Message]) -> None:
        """The chosen customer's side of the conversation: what they wrote and received."""
        lines = []
        for m in messages:
            if m.kind == "note" or not m.text:
                continue
            if m.direction == "in":
                lines.append(f"You: {m.text}")
            elif m.status in ("sent", "delivered", "read"):
                lines.append(f"Shop: {m.text}")
        text = "\n\n".join(lines)
        if text != self.transcript.toPlainText():
            self.transcript.setPlainText(text)
            bar = self.transcript.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _rename(self, name: str) -> None:
        self.customers.setItemText(self.customers.currentIndex(), name.strip() or "Customer")

    def set_examples(self, questions: Sequence[str]) -> None:
        for chip in self.chips:
            self.examples.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for question in questions:
            chip = QToolButton()
            chip.setProperty("kind", "chip")
            chip.setText(question if len(question) <= 70 else question[:68] + "…")
            chip.setToolTip(question)
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _=False, q=question: self.text.setText(q))
            self.examples.addWidget(chip, 0, Qt.AlignmentFlag.AlignLeft)
            self.chips.append(chip)
        if questions:
            self.text.setPlaceholderText(f"e.g. {questions[0]}")
        self.adjustSize()  # room for every chip at its full height

    def _send(self) -> None:
        text = self.text.text().strip()
        if not text:
            self.text.setFocus()
            return
        self.send.setEnabled(False)
        name = self.name.text().strip() or self.customers.currentText()
        self.say_requested.emit(text, name, self.visitor)

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
