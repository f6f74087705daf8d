"""Forms for a FAQ and an offer, checked as the owner types."""

from __future__ import annotations

from datetime import date

import msgspec
from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.kb.models import ItemInfo
from desktop.ui.widgets.common import Banner, label, set_invalid
from desktop.ui.widgets.date_field import DateField

__all__ = ["FaqDialog", "FaqValues", "OfferDialog", "OfferValues"]


class FaqValues(msgspec.Struct, frozen=True, kw_only=True):
    question: str
    answer: str
    alternatives: tuple[str, ...]
    item_id: str | None


class OfferValues(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    description: str
    price: str | None
    valid_from: date | None
    valid_until: date | None
    item_id: str | None


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class _Form(QDialog):
    """Shared frame: a banner for errors, the fields, Save/Cancel; Save only when valid."""

    submitted = Signal(object)

    def __init__(self, title: str, intro: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.outer = QVBoxLayout(self)
        self.outer.setContentsMargins(22, 18, 22, 16)
        self.outer.setSpacing(10)
        self.outer.addWidget(label(title, "heading"))
        self.outer.addWidget(label(intro, "muted", wrap=True))
        self.banner = Banner()
        self.outer.addWidget(self.banner)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setVerticalSpacing(8)
        self.outer.addLayout(self.form)
        self.problem = label("", "fieldError", wrap=True)
        self.outer.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = self.save_button
        save.setProperty("kind", "primary")
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.outer.addWidget(self.buttons)

    @property
    def save_button(self) -> QPushButton:
        found = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        assert found is not None
        return found

    def _submit(self) -> None:
        if self.validate():
            self.save_button.setEnabled(False)
            self.submitted.emit(self.values())

    def validate(self) -> bool:
        raise NotImplementedError

    def values(self) -> object:
        raise NotImplementedError

    def saved(self) -> None:
        self.accept()

    def failed(self, words: str) -> None:
        self.save_button.setEnabled(True)
        self.banner.show_message("error", words)


class FaqDialog(_Form):
    """A question customers ask and the shop's answer (plus other ways to ask it)."""

    def __init__(self, item: ItemInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(
            "Edit FAQ" if item else "New FAQ",
            "Write the answer the way you would write to a customer. Add other ways people"
            " ask the same thing, in any language, to help the assistant find it.",
            parent,
        )
        self.item_id = item.item_id if item else None
        self.question = QLineEdit(item.title if item else "")
        self.question.setPlaceholderText("e.g. A dërgoni në Prizren?")
        self.answer = QPlainTextEdit(item.text if item else "")
        self.answer.setPlaceholderText(
            "e.g. Po! Dërgesa në Prizren kushton 2 € dhe arrin të nesërmen."
        )
        self.answer.setMinimumHeight(110)
        self.alternatives = QPlainTextEdit("\n".join(item.alternatives) if item else "")
        self.alternatives.setPlaceholderText(
            "One per line, e.g.\nDa li šaljete u Prizren?\nDo you ship to Prizren?"
        )
        self.alternatives.setMaximumHeight(90)
        self.form.addRow("Question", self.question)
        self.form.addRow("Answer", self.answer)
        self.form.addRow("Also asked as", self.alternatives)
        self.question.textChanged.connect(self._live)
        self.answer.textChanged.connect(self._live)
        self._touched = False

    def _live(self) -> None:
        if self._touched:
            self.validate()

    def validate(self) -> bool:
        self._touched = True
        problems = []
        no_question = not self.question.text().strip()
        no_answer = not self.answer.toPlainText().strip()
        set_invalid(self.question, no_question)
        set_invalid(self.answer, no_answer)
        if no_question:
            problems.append("Write the question.")
        if no_answer:
            problems.append("Write the answer.")
        self.problem.setText(" ".join(problems))
        return not problems

    def values(self) -> FaqValues:
        return FaqValues(
            question=self.question.text().strip(),
            answer=self.answer.toPlainText().strip(),
            alternatives=_lines(self.alternatives.toPlainText()),
            item_id=self.item_id,
        )


class OfferDialog(_Form):
    """A product or promotion, with a price and the dates it is valid."""

    def __init__(self, item: ItemInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(
            "Edit offer" if item else "New offer",
            "Offers outside their dates are never mentioned to customers.",
            parent,
        )
        self.item_id = item.item_id if item else None
        self.title = QLineEdit(item.title if item else "")
        self.title.setPlaceholderText("e.g. Fustan veror, 20% zbritje")
        self.description = QPlainTextEdit(item.text if item else "")
        self.description.setPlaceholderText("What it is, sizes, colours, conditions…")
        self.description.setMinimumHeight(90)
        self.price = QLineEdit(item.price or "" if item else "")
        self.price.setPlaceholderText("e.g. 29.90 €")
        today = QDate.currentDate()
        self.starts = QCheckBox("Starts on")
        self.start_date = DateField(today)
        self.ends = QCheckBox("Ends on")
        self.end_date = DateField(today.addDays(30))
        if item and item.valid_from:
            self.starts.setChecked(True)
            self.start_date.setDate(_qdate(item.valid_from))
        if item and item.valid_until:
            self.ends.setChecked(True)
            self.end_date.setDate(_qdate(item.valid_until))
        dates = QHBoxLayout()
        dates.addWidget(self.starts)
        dates.addWidget(self.start_date)
        dates.addSpacing(12)
        dates.addWidget(self.ends)
        dates.addWidget(self.end_date)
        dates.addStretch(1)
        self.form.addRow("Offer", self.title)
        self.form.addRow("Description", self.description)
        self.form.addRow("Price", self.price)
        self.form.addRow("Valid", dates)
        for box, edit in ((self.starts, self.start_date), (self.ends, self.end_date)):
            edit.setEnabled(box.isChecked())
            box.toggled.connect(edit.setEnabled)
            box.toggled.connect(lambda _: self._live())
            edit.dateChanged.connect(lambda _: self._live())
            edit.edit.textEdited.connect(lambda _: self._live())
        self.title.textChanged.connect(self._live)
        self._touched = False

    def _live(self) -> None:
        if self._touched:
            self.validate()

    def validate(self) -> bool:
        self._touched = True
        problems = []
        no_title = not self.title.text().strip()
        set_invalid(self.title, no_title)
        if no_title:
            problems.append("Give the offer a name.")
        values = self.values()
        backwards = bool(
            values.valid_from and values.valid_until and values.valid_from > values.valid_until
        )
        unreadable = [
            field
            for box, field in ((self.starts, self.start_date), (self.ends, self.end_date))
            if box.isChecked() and not field.valid
        ]
        if backwards:
            set_invalid(self.end_date.edit, True)
            problems.append("The offer cannot end before it starts.")
        elif self.end_date not in unreadable:
            set_invalid(self.end_date.edit, False)
        if unreadable:
            problems.append('Write the day like "7 Dec 2026", or pick it on the calendar.')
        self.problem.setText(" ".join(problems))
        return not problems

    def values(self) -> OfferValues:
        start = self.start_date.date().toPython() if self.starts.isChecked() else None
        end = self.end_date.date().toPython() if self.ends.isChecked() else None
        return OfferValues(
            title=self.title.text().strip(),
            description=self.description.toPlainText().strip(),
            price=self.price.text().strip() or None,
            valid_from=start if isinstance(start, date) else None,
            valid_until=end if isinstance(end, date) else None,
            item_id=self.item_id,
        )
