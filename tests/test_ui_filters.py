"""Owner controls in the inbox: a "needs a person" filter, a filter per label, and search
matches marked in the list."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from desktop.ui.delegates.conversation import ROW_HEIGHT, ConversationDelegate, matches
from desktop.ui.models.conversations import ConversationFilter, ConversationListModel
from desktop.ui.screens.lists import InboxScreen
from desktop.ui.text import fold
from tests.test_ui_widgets import _conversation


def _names(proxy: ConversationFilter) -> list[int]:
    return [c.id for i in range(proxy.rowCount()) if (c := proxy.conversation(i))]


def test_needs_a_person_and_label_filters(qtbot: QtBot) -> None:
    """ "Needs a person" keeps hand-offs; a label entry appears once in use and keeps only
    conversations with it; a label that disappears falls back to every conversation."""
    screen = InboxScreen()
    qtbot.addWidget(screen)
    model = ConversationListModel()
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    model.set_conversations(
        [
            _conversation(1, labels=("vip",), needs_person=True),
            _conversation(2, labels=("wholesale", "vip")),
            _conversation(3, labels=()),
        ]
    )
    screen.set_labels(model.labels())
    texts = [screen.status_filter.itemText(i) for i in range(screen.status_filter.count())]
    assert "Needs a person" in texts
    assert texts[-2:] == ["Label: vip", "Label: wholesale"]

    def apply() -> None:
        channel, statuses, unread, pending = screen.filters()
        proxy.set_filter(
            channel_id=channel,
            statuses=statuses,  # type: ignore[arg-type]
            unread_only=unread,
            pending_only=pending,
            needs_person=screen.needs_person,
            label=screen.label,
        )

    screen.filter_changed.connect(apply)
    screen.status_filter.setCurrentIndex(texts.index("Needs a person"))
    assert _names(proxy) == [1]
    screen.status_filter.setCurrentIndex(texts.index("Label: vip"))
    assert screen.label == "vip"
    assert sorted(_names(proxy)) == [1, 2]
    screen.set_labels(["wholesale"])
    apply()
    assert screen.status_filter.currentText() == "All conversations"
    assert sorted(_names(proxy)) == [1, 2, 3]


def test_search_matches_are_marked_in_the_list(qtbot: QtBot) -> None:
    """The words searched for are found whatever the case or accents, and the row paints a
    marker behind them."""
    assert matches("Marko Petrović: košta", [fold("KOSTA")]) == [(16, 21)]
    assert matches("Petrović", [fold("petrovic")]) == [(0, 8)]
    assert matches("Arta", []) == []
    model = ConversationListModel()
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    model.set_conversations([_conversation(1, last_message_preview="A keni çanta të zeza?")])
    delegate = ConversationDelegate()

    def paint(search: str) -> QImage:
        proxy.set_search(search)
        image = QImage(360, ROW_HEIGHT, QImage.Format.Format_ARGB32)
        image.fill(QColor("#ffffff"))
        option = QStyleOptionViewItem()
        option.rect = QRect(0, 0, 360, ROW_HEIGHT)
        painter = QPainter(image)
        delegate.paint(painter, option, proxy.index(0, 0))
        painter.end()
        return image

    marker = QColor("#fde68a").rgb()

    def marked(image: QImage) -> int:
        return sum(
            1
            for y in range(image.height())
            for x in range(image.width())
            if image.pixel(x, y) == marker
        )

    assert marked(paint("")) == 0
    assert marked(paint("canta")) > 20
