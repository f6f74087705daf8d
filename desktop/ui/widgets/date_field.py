"""A day typed as words or picked on a calendar (the offer dates)."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCalendarWidget,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from desktop.ui.text import parse_day
from desktop.ui.widgets.common import set_invalid, tool_button

__all__ = ["DateField"]


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


class DateField(QWidget):
    """A text box that reads "7 Dec 2026", "7.12.2026" or "2026-12-07", and a calendar.

    ``date()`` is the last day it understood; text it cannot read is marked invalid and
    leaves the day as it was, so nothing the owner picked is lost to a typo.
    """

    dateChanged = Signal(QDate)

    def __init__(self, day: QDate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._date = day
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("e.g. 7 Dec 2026")
        self.edit.setMinimumWidth(110)
        self.edit.setAccessibleName("Day")
        self.calendar_button = tool_button("calendar", "Pick the day on a calendar", kind="default")
        self.calendar_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.calendar = QCalendarWidget()
        self.calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.calendar.setGridVisible(False)
        self.calendar.setMinimumSize(300, 230)
        menu = QMenu(self.calendar_button)
        holder = QWidgetAction(menu)
        holder.setDefaultWidget(self.calendar)
        menu.addAction(holder)
        self.calendar_button.setMenu(menu)
        menu.aboutToShow.connect(lambda: self.calendar.setSelectedDate(self._date))
        self.calendar.clicked.connect(self._picked)
        self.calendar.activated.connect(self._picked)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.calendar_button)
        self.edit.editingFinished.connect(self._typed)
        self.edit.textEdited.connect(self._typing)
        self._show()

    def date(self) -> QDate:
        return self._date

    def setDate(self, day: QDate) -> None:
        changed = day != self._date
        self._date = day
        self._show()
        if changed:
            self.dateChanged.emit(day)

    @property
    def valid(self) -> bool:
        """False while the text box holds words that are not a day."""
        return not bool(self.edit.property("invalid"))

    def _show(self) -> None:
        self.edit.setText(self._date.toString("d MMM yyyy"))
        set_invalid(self.edit, False)

    def _typing(self, text: str) -> None:
        day = parse_day(text)
        set_invalid(self.edit, day is None and bool(text.strip()))
        if day is not None and _qdate(day) != self._date:
            self._date = _qdate(day)
            self.dateChanged.emit(self._date)

    def _typed(self) -> None:
        if parse_day(self.edit.text()) is not None:
            self._show()  # one spelling for every way of typing it

    def _picked(self, day: QDate) -> None:
        self.setDate(day)
        menu = self.calendar_button.menu()
        if menu is not None:
            menu.hide()
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
