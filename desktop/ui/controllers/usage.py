"""Loads usage from the relay and results from the store into the usage screen."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.engine import Engine
from desktop.core.local_usage import local_usage, own_key
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
        engine: Engine,
        screen: UsageScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
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
        store = self.engine.store
        stats = await self.engine.stats()
        channels = await store.channels()
        names = {c.id: c.name or PLATFORM_NAMES.get(c.platform, c.platform) for c in channels}
        self.screen.set_stats(stats, names)
        notices = await store.usage_notices()
        try:
            report = await self.engine.usage(first, last)
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
        settings = self.engine.settings
        mine = own_key(settings)
        unpriced: tuple[str, ...] = ()
        if mine:
            # The relay never sees calls made with the owner's key: count them from drafts.
            month_start = last.replace(day=1)
            since = datetime.combine(min(first, month_start), datetime.min.time())
            rows = await store.draft_usage(int(since.timestamp() * 1000))
            local = local_usage(rows, last, settings.ai.prices)
            unpriced = local.unpriced
            report = dataclasses.replace(
                report,
                days=[
                    dataclasses.replace(
                        d,
                        ai_tokens=local.days.get(d.day, (0, 0.0))[0],
                        cost_usd=local.days.get(d.day, (0, 0.0))[1],
                    )
                    for d in report.days
                ],
                month={
                    **report.month,
                    "ai_tokens": float(local.month_tokens),
                    "ai_cost_usd": local.month_cost_usd,
                },
                limits={**report.limits, "ai_tokens": 0.0, "ai_cost_usd": 0.0},
            )
        self.screen.set_report(report, notices, own_key=mine, unpriced=unpriced)
        if self.screen.warning.isVisible():
            self.warned.emit(self.screen.warning.text)
        self.loaded.emit()
