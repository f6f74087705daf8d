"""The main window: a sidebar of screens, the screen itself, and the window's memory.

This module is imported before the engine exists (it must not import the core), so the
window can be on screen while the engine and its heavy libraries load in the background.
"""

from __future__ import annotations

import asyncio
from typing import Final

from PySide6.QtCore import (
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSettings,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QCloseEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.icons import app_icon, icon
from desktop.ui.widgets.common import Banner, button, label

__all__ = ["MainWindow", "fit_rect"]

_NAME_ROLE: Final = Qt.ItemDataRole.UserRole + 1
_COUNT_ROLE: Final = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex


class _NavDelegate(QStyledItemDelegate):
    """The style sheet draws the item; this adds the count pill on the right."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), 38))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        super().paint(painter, option, index)
        count = index.data(_COUNT_ROLE)
        if not isinstance(count, int) or count <= 0:
            return
        text = str(count) if count < 1000 else "999+"
        rect = option.rect
        palette: QPalette = option.palette
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(True)
        width = max(22, QFontMetrics(font).horizontalAdvance(text) + 12)
        pill = QRectF(rect.right() - width - 16, rect.center().y() - 9, width, 18)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRoundedRect(pill, 9, 9)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


def fit_rect(rect: QRect, room: QRect, *, center: bool = False) -> QRect:
    """``rect`` shrunk to fit in ``room`` and moved inside it (centred when asked)."""
    width, height = min(rect.width(), room.width()), min(rect.height(), room.height())
    if center:
        x = room.x() + (room.width() - width) // 2
        y = room.y() + (room.height() - height) // 2
    else:
        x = max(room.left(), min(rect.x(), room.x() + room.width() - width))
        y = max(room.top(), min(rect.y(), room.y() + room.height() - height))
    return QRect(x, y, width, height)


class MainWindow(QMainWindow):
    """Holds the screens; remembers its size, position and last screen in ``QSettings``."""

    screen_changed = Signal(str)
    #: The owner chose to quit (menu, shortcut, or closing without a tray).
    quit_requested = Signal()
    #: Closing the window hid it in the tray; the assistant keeps working.
    hidden_to_tray = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Clientora")
        self.setWindowIcon(app_icon())
        self.keep_in_tray = False
        self._quitting = False
        self.quit_event = asyncio.Event()
        self.quit_requested.connect(self.quit_event.set)

        central = QWidget()
        self.setCentralWidget(central)
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        self.sidebar = QFrame()
        self.sidebar.setObjectName("Sidebar")
        self.sidebar.setFixedWidth(224)
        side = QVBoxLayout(self.sidebar)
        side.setContentsMargins(0, 16, 0, 0)
        side.setSpacing(6)
        brand = QHBoxLayout()
        brand.setContentsMargins(18, 0, 14, 0)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(30, 30))
        name = QLabel("Clientora")
        name.setObjectName("Brand")
        brand.addWidget(logo)
        brand.addWidget(name, 1)
        side.addLayout(brand)
        self.shop = label("", "hint")
        self.shop.setContentsMargins(20, 0, 14, 8)
        side.addWidget(self.shop)
        self.nav = QListWidget()
        self.nav.setObjectName("Nav")
        self.nav.setItemDelegate(_NavDelegate(self.nav))
        self.nav.setIconSize(QSize(18, 18))
        self.nav.setAccessibleName("Screens")
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.currentRowChanged.connect(self._nav_changed)
        side.addWidget(self.nav, 1)
        self.sync = QLabel("")
        self.sync.setObjectName("SyncLabel")
        self.sync.setWordWrap(True)
        side.addWidget(self.sync)
        root.addWidget(self.sidebar)

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.setSpacing(0)
        self.banner = Banner(margins=(16, 10, 16, 0))
        main_layout.addWidget(self.banner)
        self.pages = QStackedWidget()
        main_layout.addWidget(self.pages, 1)
        root.addWidget(main, 1)

        self.loading = QWidget()
        loading_layout = QVBoxLayout(self.loading)
        loading_layout.addStretch(1)
        picture = QLabel()
        picture.setPixmap(app_icon().pixmap(56, 56))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading_text = label("Opening your shop…", "muted")
        self.loading_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading_text.setWordWrap(True)
        loading_layout.addWidget(picture)
        loading_layout.addWidget(self.loading_text)
        self.loading_quit = button("Quit", kind="flat")
        self.loading_quit.clicked.connect(self.quit)
        self.loading_quit.hide()
        loading_layout.addWidget(self.loading_quit, 0, Qt.AlignmentFlag.AlignHCenter)
        loading_layout.addStretch(2)
        self.pages.addWidget(self.loading)
        self.pages.setCurrentWidget(self.loading)
        self.sidebar.hide()

        self._screens: dict[str, QWidget] = {}
        self._items: dict[str, QListWidgetItem] = {}
        quit_shortcut = QShortcut(QKeySequence.StandardKey.Quit, self)
        quit_shortcut.activated.connect(self.quit)
        room = self._room()
        self.setMinimumSize(min(980, room.width()), min(620, room.height()))
        self.restore_geometry()

    # ---- screens ----------------------------------------------------------------------

    def add_screen(self, name: str, title: str, icon_name: str, widget: QWidget) -> None:
        item = QListWidgetItem(icon(icon_name), title)
        item.setData(_NAME_ROLE, name)
        item.setToolTip(f"{title} (Ctrl+{len(self._items) + 1})")
        self.nav.addItem(item)
        self._items[name] = item
        self._screens[name] = widget
        self.pages.addWidget(widget)
        shortcut = QShortcut(QKeySequence(f"Ctrl+{len(self._items)}"), self)
        shortcut.activated.connect(lambda n=name: self.show_screen(n))

    def screen_widget(self, name: str) -> QWidget:
        return self._screens[name]

    @property
    def current_screen(self) -> str | None:
        for name, widget in self._screens.items():
            if self.pages.currentWidget() is widget and not self.sidebar.isHidden():
                return name
        return None

    def show_screen(self, name: str) -> None:
        if name not in self._screens:
            return
        self.sidebar.show()
        item = self._items[name]
        if self.nav.currentItem() is not item:
            self.nav.setCurrentItem(item)  # calls _nav_changed
        else:
            self._nav_changed(self.nav.row(item))

    def _nav_changed(self, row: int) -> None:
        if not 0 <= row < self.nav.count():  # -1: the list was cleared
            return
        item = self.nav.item(row)
        name = str(item.data(_NAME_ROLE))
        self.pages.setCurrentWidget(self._screens[name])
        self.settings.setValue("window/screen", name)
        self.screen_changed.emit(name)

    def set_count(self, name: str, count: int) -> None:
        item = self._items.get(name)
        if item is not None and item.data(_COUNT_ROLE) != count:
            item.setData(_COUNT_ROLE, count)
            title = item.text()
            item.setData(
                Qt.ItemDataRole.AccessibleTextRole, f"{title}, {count}" if count else title
            )

    def count(self, name: str) -> int:
        item = self._items.get(name)
        value = item.data(_COUNT_ROLE) if item is not None else 0
        return value if isinstance(value, int) else 0

    def show_page(self, widget: QWidget) -> None:
        """A page without the sidebar (first run, a fatal error)."""
        if self.pages.indexOf(widget) < 0:
            self.pages.addWidget(widget)
        self.sidebar.hide()
        self.pages.setCurrentWidget(widget)

    def show_workspace(self, default: str = "inbox") -> None:
        """Back to the screens, on the one used last time."""
        last = str(self.settings.value("window/screen", default) or default)
        self.show_screen(last if last in self._screens else default)

    def show_fatal(self, words: str) -> None:
        self.loading_text.setText(words)
        self.loading_text.setProperty("role", "fieldError")
        self.loading_quit.show()
        self.show_page(self.loading)

    def set_shop(self, name: str) -> None:
        self.shop.setText(name)
        self.setWindowTitle(f"{name} — Clientora" if name else "Clientora")

    def set_sync(self, text: str) -> None:
        self.sync.setText(text)

    # ---- memory -----------------------------------------------------------------------

    def restore_geometry(self) -> None:
        """Last session's place and size, kept on the screen; else sized from the screen."""
        room = self._room()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            if not self.isMaximized() and not self.isFullScreen():
                self.setGeometry(fit_rect(self.geometry(), room))
            return
        width = min(1440, max(self.minimumWidth(), round(room.width() * 0.94)))
        height = min(900, max(self.minimumHeight(), round(room.height() * 0.92)))
        self.setGeometry(fit_rect(QRect(0, 0, width, height), room, center=True))

    def _room(self) -> QRect:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, 1366, 768)

    def save_geometry(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()

    def quit(self) -> None:
        """Leave for good (the tray's Quit, Ctrl+Q)."""
        self._quitting = True
        self.save_geometry()
        self.quit_requested.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        if self.keep_in_tray and not self._quitting:
            # The assistant keeps answering while the window is hidden.
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
            return
        event.accept()
        self._quitting = True
        self.quit_requested.emit()
