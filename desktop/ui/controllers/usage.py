"""Loads usage and the assistant's results from the usage service into the usage screen."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.services import UsageService
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.screens.usage import UsageScreen, empty_days
from desktop.ui.tasks import TaskKeeper
from desktop.ui.text import PLATFORM_NAMES

__all__ = ["UsageController"]


class UsageController(QObject):
    """Refreshes when shown, when the relay warns about a limit, and every few minutes."""

    loaded = Signal()
    #: A limit passed its warning share (for the tray): the sentence to show.
    warned = Signal(str)

    def __init__(
        self,
        usage: UsageService,
        screen: UsageScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.usage = usage
        self.screen = screen
        self.tasks = tasks
        self.active = False
        screen.period_changed.connect(lambda _: self.reload())
        screen.refresh_requested.connect(self.reload)
        hub.changed.connect(self._on_changes)
        self._timer = QTimer(self)
        self._timer.setInterval(5 * 60_000)
        self._timer.timeout.connect(lambda: self.reload() if self.active else None)
        self._timer.start()

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.usage:
            self.reload()

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="usage-load")

    async def _load(self) -> None:
        last = date.today()
        first = last - timedelta(days=self.screen.days - 1)
        stats = await self.usage.stats()
        channels = await self.usage.channels()
        names = {c.id: c.name or PLATFORM_NAMES.get(c.platform, c.platform) for c in channels}
        self.screen.set_stats(stats, names)
        notices = await self.usage.notices()
        try:
            report = await self.usage.report(first, last)
        except Exception as exc:
            message = getattr(exc, "message", None)
            if not isinstance(message, str):
                raise
            self.screen.banner.show_message(
                "warning", f"Usage could not be loaded from the Clientora service: {message}"
            )
            self.loaded.emit()
            return
        self.screen.banner.hide()
        report = dataclasses.replace(report, days=empty_days(first, last, report.days))
        report, mine, unpriced = await self.usage.with_own_key(report, first, last)
        self.screen.set_report(report, notices, own_key=mine, unpriced=unpriced)
        if self.screen.warning.isVisible():
            self.warned.emit(self.screen.warning.text)
        self.loaded.emit()
