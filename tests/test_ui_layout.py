"""Layout that fits a 13-inch laptop: wrapped empty states, a draft panel that folds its
buttons into icons, details that fold into a toggle, a window kept on its screen, a date
field that reads what the owner types, and a settings page the wheel cannot change."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QByteArray, QDate, QPoint, QPointF, QRect, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.settings import AppSettings
from desktop.ui.main_window import MainWindow, fit_rect
from desktop.ui.screens.settings import SettingsScreen
from desktop.ui.text import parse_day
from desktop.ui.theme import apply_theme
from desktop.ui.widgets.common import EmptyState
from desktop.ui.widgets.conversation_pane import NARROW_PANE, ConversationPane
from desktop.ui.widgets.kb_forms import OfferDialog
from tests.qt_helpers import qsettings
from tests.test_ui_widgets import _conversation, _draft

__all__ = ["qsettings"]


def test_empty_state_text_wraps_instead_of_clipping(qtbot: QtBot) -> None:
    """The body of an empty state gets all the lines it needs at any width."""
    empty = EmptyState(
        "nav-inbox",
        "No conversation open",
        "Pick a conversation on the left. When customers write on any channel,"
        " their messages and the assistant's drafts appear here.",
    )
    qtbot.addWidget(empty)
    body = empty.body
    heights = []
    for width in (520, 260):
        empty.resize(width, 500)
        empty.show()
        qtbot.waitUntil(lambda: 0 < body.width() <= width)  # noqa: B023 - waited on here
        assert body.height() >= body.heightForWidth(body.width())
        heights.append(body.height())
    assert heights[1] > heights[0] >= 2 * body.fontMetrics().lineSpacing()


def _resize(qtbot: QtBot, pane: ConversationPane, width: int) -> None:
    # The first narrowing folds the details away, which lets the pane get narrower still.
    pane.resize(width, 700)
    if width < NARROW_PANE:
        qtbot.waitUntil(lambda: pane.narrow and pane.minimumSizeHint().width() <= width)

    def there() -> bool:
        pane.resize(width, 700)
        return pane.width() == width

    qtbot.waitUntil(there)


def test_draft_actions_become_icons_with_tooltips_when_narrow(
    qtbot: QtBot, qapp: QApplication
) -> None:
    """No clipped "pprove and": a narrow panel shows icons (tooltips stay), a wide one words."""
    apply_theme(qapp, "light")  # the look's bold, padded buttons need the most room
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.set_conversation(_conversation())
    pane.set_draft(_draft())
    panel = pane.draft_panel
    everything = (
        panel.approve_button,
        panel.edit_button,
        panel.regenerate_button,
        panel.discard_button,
    )

    def unsqueezed() -> bool:
        return all(w.width() >= w.sizeHint().width() for w in everything)

    for width, compact in ((1300, False), (460, True), (1300, False), (420, True)):
        _resize(qtbot, pane, width)
        qtbot.waitUntil(lambda: panel.compact is compact)  # noqa: B023 - waited on here
        qtbot.waitUntil(unsqueezed)  # the layout settles after the words change
        for widget in everything:
            assert widget.toolTip()
            assert widget.accessibleName()
        shown = [b.text() for b in (panel.edit_button, panel.regenerate_button)]
        assert shown == (["", ""] if compact else ["Edit", "Regenerate"])
        assert panel.approve_button.text() in ("Approve and send", "Approve")
    assert panel.approve_button.text() == "Approve"  # the narrowest keeps the main word
    with qtbot.waitSignal(pane.regenerate_requested):
        panel.regenerate_button.click()


def test_details_fold_into_a_toggle_on_a_narrow_pane(qtbot: QtBot) -> None:
    """Below the line the details column hides; its toggle brings it back; wide restores."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.resize(NARROW_PANE + 300, 700)
    pane.show()
    pane.set_conversation(_conversation())
    qtbot.waitUntil(pane.details.isVisible)
    _resize(qtbot, pane, NARROW_PANE - 60)
    qtbot.waitUntil(lambda: not pane.details.isVisible())
    assert not pane.details_button.isChecked()
    pane.details_button.click()
    assert pane.details.isVisible()
    pane.resize(NARROW_PANE + 300, 700)
    qtbot.waitUntil(lambda: not pane.narrow)
    assert pane.details.isVisible()
    pane.details_button.click()  # hidden by choice on a wide pane: stays hidden
    _resize(qtbot, pane, NARROW_PANE - 60)
    qtbot.waitUntil(lambda: pane.narrow)
    pane.resize(NARROW_PANE + 300, 700)
    qtbot.waitUntil(lambda: not pane.narrow)
    assert not pane.details.isVisible()


def test_window_fits_its_screen_new_and_restored(qtbot: QtBot, qsettings: QSettings) -> None:
    """A first window is sized from the screen; a remembered one too big or off the
    screen comes back inside it."""
    assert fit_rect(QRect(-400, 900, 1320, 820), QRect(0, 0, 1280, 690)) == QRect(0, 0, 1280, 690)
    assert fit_rect(QRect(300, 200, 1000, 600), QRect(0, 0, 1366, 738)) == QRect(
        300, 138, 1000, 600
    )
    assert fit_rect(QRect(0, 0, 800, 600), QRect(0, 0, 1280, 720), center=True) == QRect(
        240, 60, 800, 600
    )
    window = MainWindow(qsettings)
    qtbot.addWidget(window)
    screen = window.screen() or QApplication.primaryScreen()
    room = screen.availableGeometry()
    assert room.contains(window.geometry())
    window.setMinimumSize(0, 0)
    window.setGeometry(room.x() - 500, room.y() + room.height() - 50, 3000, 2000)
    qsettings.setValue("window/geometry", window.saveGeometry())
    restored = MainWindow(qsettings)
    qtbot.addWidget(restored)
    assert isinstance(qsettings.value("window/geometry"), QByteArray)
    assert room.contains(restored.geometry())


def test_day_words_are_read_as_owners_write_them() -> None:
    """ "7 Dec 2026" is the 7th (the old picker made it the 3rd); nonsense is no day."""
    assert parse_day("7 Dec 2026") == date(2026, 12, 7)
    assert parse_day("Dec 7, 2026") == date(2026, 12, 7)
    assert parse_day("7.12.2026") == date(2026, 12, 7)
    assert parse_day("2026-12-07") == date(2026, 12, 7)
    assert parse_day("7 dhjetor 2026") == date(2026, 12, 7)
    assert parse_day("31 Feb 2026") is None
    assert parse_day("next week") is None


def test_offer_dates_are_typed_or_picked_on_a_calendar(qtbot: QtBot) -> None:
    """Typing a day sets it; a typo is pointed out and keeps the last good day; the
    calendar shows weekday names and every day of the month and picks a day."""
    offer = OfferDialog()
    qtbot.addWidget(offer)
    offer.show()
    offer.title.setText("Çanta")
    offer.ends.setChecked(True)
    field = offer.end_date
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "7 Dec 2026")
    QTest.keyClick(field.edit, Qt.Key.Key_Tab)
    assert field.edit.text() == "7 Dec 2026"
    assert offer.values().valid_until == date(2026, 12, 7)
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "7 Decembr")
    assert not offer.validate()
    assert "7 Dec 2026" in offer.problem.text()
    assert offer.values().valid_until == date(2026, 12, 7)
    calendar = field.calendar
    calendar.setSelectedDate(QDate(2027, 1, 1))
    calendar.show()
    qtbot.waitExposed(calendar)
    assert calendar.horizontalHeaderFormat() != calendar.HorizontalHeaderFormat.NoHorizontalHeader
    view = calendar.findChild(QWidget, "qt_calendar_calendarview")
    assert view is not None
    model = view.model()  # type: ignore[attr-defined]
    days = {
        model.index(row, col).data()
        for row in range(model.rowCount())
        for col in range(model.columnCount())
    }
    assert {str(n) for n in range(1, 32)} <= {str(d) for d in days}
    with qtbot.waitSignal(field.dateChanged):
        calendar.clicked.emit(QDate(2027, 1, 15))
    assert offer.validate()
    assert offer.values().valid_until == date(2027, 1, 15)


def _wheel(widget: QWidget, up: bool) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(QPoint(int(centre.x()), int(centre.y())))),
        QPoint(0, 0),
        QPoint(0, 120 if up else -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_settings_without_changing_a_choice(qtbot: QtBot) -> None:
    """A combo box under the pointer keeps its value while the page scrolls; once the
    owner clicks into it, the wheel changes it as usual."""
    screen = SettingsScreen()
    qtbot.addWidget(screen)
    screen.resize(900, 500)
    screen.set_settings(AppSettings())
    screen.show()
    qtbot.waitExposed(screen)
    bar = screen.page.verticalScrollBar()
    assert bar.maximum() > 0
    model = screen.model.currentText()
    _wheel(screen.model, up=False)
    assert screen.model.currentText() == model
    assert bar.value() > 0  # the page scrolled instead
    screen.model.setFocus()
    qtbot.waitUntil(screen.model.hasFocus)
    _wheel(screen.model, up=False)
    assert screen.model.currentText() != model


def test_saved_note_and_test_connection_sit_in_view(qtbot: QtBot) -> None:
    """The saved note is beside the always-visible Save button; Test connection asks with
    the settings as edited and shows each answer."""
    screen = SettingsScreen()
    qtbot.addWidget(screen)
    screen.resize(900, 500)
    screen.set_settings(AppSettings())
    screen.show()
    qtbot.waitExposed(screen)
    assert not screen.page.isAncestorOf(screen.save_button)
    screen.endpoint.setText("http://127.0.0.1:9/v1")
    with qtbot.waitSignal(screen.test_requested) as asked:
        screen.test_button.click()
    assert isinstance(asked.args[0], AppSettings)
    assert asked.args[0].ai.base_url == "http://127.0.0.1:9/v1"
    assert not screen.test_button.isEnabled()
    screen.tested([(True, "Replies: gpt-4o-mini answers."), (False, "Search by meaning: no")])
    assert screen.test_button.isEnabled()
    assert "✓ Replies" in screen.test_result.text()
    assert "✗ Search" in screen.test_result.text()
    screen.saved(AppSettings())
    assert screen.saved_note.text().startswith("Saved.")
    assert screen.saved_note.isVisible()
    assert isinstance(screen.saved_note, QLabel)


def test_slash_offers_saved_replies_and_inserts_the_chosen_one(qtbot: QtBot) -> None:
    """Typing "/hv" lists the matching saved reply; Enter puts its text in place of "/hv"."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.set_conversation(_conversation())
    pane.set_saved_replies([("Hvala", "Hvala na poruci!"), ("Dostava", "Dostava je 2 €.")])
    composer = pane.composer
    composer.editor.setFocus()
    QTest.keyClicks(composer.editor, "Pozdrav! /hv")
    popup = composer.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible)
    assert composer.completer.completionCount() == 1
    assert composer.completer.currentCompletion() == "Hvala"
    popup.setCurrentIndex(composer.completer.completionModel().index(0, 0))
    QTest.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: composer.text == "Pozdrav! Hvala na poruci!", timeout=1000)
    assert not popup.isVisible()


def test_many_labels_wrap_instead_of_being_cut(qtbot: QtBot) -> None:
    """Every label chip shows whole inside the details column, on as many lines as needed."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.resize(NARROW_PANE + 300, 700)
    pane.show()
    labels = ("vip", "wholesale", "returns pending", "Prishtinë", "needs invoice", "Peja")
    pane.set_conversation(_conversation(labels=labels))
    details = pane.details
    qtbot.waitUntil(lambda: details.chips.count() == len(labels))
    chips: list[QWidget] = []
    for i in range(details.chips.count()):
        item = details.chips.itemAt(i)
        chip = item.widget() if item is not None else None
        assert chip is not None
        chips.append(chip)
    qtbot.waitUntil(lambda: all(c.isVisible() for c in chips))
    rows = {c.y() for c in chips}
    assert len(rows) > 1
    for chip in chips:
        assert chip.width() >= chip.sizeHint().width()
        assert chip.geometry().right() <= details.contentsRect().right()
