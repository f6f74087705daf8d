"""The tray icon and desktop notifications for new messages and drafts waiting."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from desktop.ui.icons import app_icon
from desktop.ui.main_window import MainWindow

__all__ = ["TrayNotifier"]

#: At most one notification this often; the rest are summed up in the next one.
MIN_GAP_S = 8.0


class TrayNotifier(QObject):
    """Shows notifications while the window is hidden or in the background.

    Where the desktop has no tray (some Linux desktops, offscreen tests), notifications
    fall back to asking the window manager to flash the window, and are still announced
    on ``notified`` so the app's behaviour can be checked anywhere.
    """

    notified = Signal(str, str)
    open_requested = Signal(str)  # screen name

    def __init__(self, window: MainWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.tray: QSystemTrayIcon | None = None
        self._last = 0.0
        self._target = "inbox"
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = QSystemTrayIcon(app_icon(), self)
            tray.setToolTip("Clientora")
            menu = QMenu()
            menu.addAction("Open Clientora").triggered.connect(lambda: self._open("inbox"))
            self.approvals_action = menu.addAction("Drafts waiting")
            self.approvals_action.triggered.connect(lambda: self._open("approvals"))
            menu.addSeparator()
            menu.addAction("Quit").triggered.connect(window.quit)
            tray.setContextMenu(menu)
            self._menu = menu
            tray.activated.connect(self._activated)
            tray.messageClicked.connect(lambda: self._open(self._target))
            tray.show()
            self.tray = tray
            window.keep_in_tray = True

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._open("inbox")

    def _open(self, screen: str) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        self.open_requested.emit(screen)

    @property
    def window_in_front(self) -> bool:
        return self.window.isVisible() and self.window.isActiveWindow()

    def set_waiting(self, drafts: int) -> None:
        text = (
            f"Clientora — {drafts} draft{'s' if drafts != 1 else ''} waiting"
            if drafts
            else "Clientora"
        )
        if self.tray is not None:
            self.tray.setToolTip(text)
            self.approvals_action.setText(f"Drafts waiting ({drafts})")

    def notify(self, title: str, text: str, *, screen: str = "inbox", force: bool = False) -> bool:
        """Show a notification unless the owner is looking at the window; True if shown."""
        if self.window_in_front and not force:
            return False
        now = time.monotonic()
        if now - self._last < MIN_GAP_S and not force:
            return False
        self._last = now
        self._target = screen
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, text, app_icon(), 6000)
        else:
            QApplication.alert(self.window)
        self.notified.emit(title, text)
        return True

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()
