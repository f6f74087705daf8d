"""Shared pytest-qt helpers for the UI tests: a qasync loop, awaiting from sync tests, data.

UI tests are plain (synchronous) pytest-qt tests: the ``qloop`` fixture installs a qasync
loop marked as running on the test's QApplication, so the engine's coroutines run while
``qtbot`` processes Qt events; :func:`wait_for` drives a coroutine to its end that way.
Data comes in as real stream events applied through the real store.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtCore import QAbstractItemModel, QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from common.channels import Platform
from common.events import (
    Attachment,
    ChannelChanged,
    Customer,
    Event,
    MessageReceived,
    MessageSent,
    SendFailed,
    Status,
)
from common.protocol import EventFrame
from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.engine import Engine
from desktop.core.store import Store
from desktop.embedded import EmbeddedRelay
from desktop.ui.theme import apply_theme

__all__ = [
    "HOUR",
    "EventLog",
    "check_model",
    "qloop",
    "qsettings",
    "store",
    "wait_for",
]

T = TypeVar("T")
HOUR = 3_600_000


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop on the test's QApplication, marked as already running (PITFALLS.md)."""
    apply_theme(qapp, "light")
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        # Let finished executor futures and pending callbacks settle before closing.
        for _ in range(5):
            qapp.processEvents()
        # Not loop.stop(): it calls QApplication.exit(), which leaves Qt's "quit now" flag
        # set, so every later QEventLoop.exec() (qtbot.wait, waitSignal) returns at once
        # and the next test's loop never runs. Marking it stopped is all close() needs.
        loop._QEventLoop__is_running = False
        loop.close()
        # close() only marks qasync's timer object stopped: its Qt timers stay registered
        # until they fire. Kill them here, on the GUI thread, and collect garbage now: if
        # the cycle collector later frees that object from a worker thread, Qt cannot
        # unregister the timers and the next one to fire touches freed memory (SIGSEGV).
        timer = loop._timer
        pending = timer._SimpleTimer__callbacks
        for timer_id in list(pending):
            timer.killTimer(timer_id)
        pending.clear()
        gc.collect()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


def check_model(tester: ModelTester, model: QAbstractItemModel) -> None:
    """Run pytest-qt's model checks (Python version: it names what is wrong)."""
    tester.check(model, force_py=True)  # type: ignore[no-untyped-call]


def wait_for(qtbot: QtBot, coro: Coroutine[Any, Any, T], timeout_ms: int = 15_000) -> T:
    """Run ``coro`` on the qasync loop while Qt processes events; return its result."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout_ms)
    return task.result()


def open_local_engine(qtbot: QtBot, folder: Path) -> Engine:
    """An engine in ``folder``/shop whose relay, if the shop picks one on this computer,
    is the built-in one (on a free port)."""
    return wait_for(
        qtbot,
        Engine.open(
            folder / "shop",
            local_relay=lambda relay_folder, _port: EmbeddedRelay(relay_folder, port=0),
            credentials=EncryptedFileCredentials(folder / "secrets"),
        ),
    )


@pytest.fixture
def store(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Store]:
    """A real local store in ``tmp_path``, opened on the qasync loop."""
    opened = wait_for(qtbot, Store.open(tmp_path / "desktop.db"))
    wait_for(qtbot, opened.set_identity("biz-test", "device-test"))
    try:
        yield opened
    finally:
        wait_for(qtbot, opened.close())


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    """Window settings in a file of their own, so tests never touch the user's."""
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


class EventLog:
    """Builds stream events the way the relay would send them, with rising sequence numbers."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)

    def frame(self, event: Event) -> EventFrame:
        seq = next(self._seq)
        return EventFrame(seq=seq, id=f"ev-{seq}", stored_at_ms=self.now, event=event)

    def channel(
        self, channel_id: str, platform: Platform, name: str, status: str = "connected"
    ) -> EventFrame:
        return self.frame(
            ChannelChanged(
                timestamp_ms=self.now,
                channel_id=channel_id,
                platform=platform,
                status=status,  # type: ignore[arg-type]
                name=name,
            )
        )

    def message(
        self,
        text: str | None,
        *,
        customer: str,
        name: str | None = None,
        channel: str = "ch-messenger",
        platform: Platform = "messenger",
        at_ms: int | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> EventFrame:
        return self.frame(
            MessageReceived(
                channel_id=channel,
                platform=platform,
                customer=Customer(id=customer, name=name),
                timestamp_ms=self.now if at_ms is None else at_ms,
                platform_id=f"mid-{next(self._ids)}",
                text=text,
                attachments=tuple(attachments),
            )
        )

    def sent(
        self,
        text: str,
        *,
        customer: str,
        channel: str = "ch-messenger",
        platform: Platform = "messenger",
        at_ms: int | None = None,
        automatic: bool = False,
    ) -> tuple[EventFrame, str]:
        """A reply sent from another device; returns the frame and its platform id."""
        mid = f"mid-{next(self._ids)}"
        frame = self.frame(
            MessageSent(
                channel_id=channel,
                platform=platform,
                customer=Customer(id=customer),
                timestamp_ms=self.now if at_ms is None else at_ms,
                platform_id=mid,
                text=text,
                send_id=f"send-{mid}",
                automatic=automatic,
                device_id="another-device",
            )
        )
        return frame, mid

    def status(
        self,
        status: str,
        mids: Sequence[str],
        *,
        customer: str,
        channel: str = "ch-messenger",
        platform: Platform = "messenger",
    ) -> EventFrame:
        return self.frame(
            Status(
                channel_id=channel,
                platform=platform,
                customer=Customer(id=customer),
                timestamp_ms=self.now,
                status=status,  # type: ignore[arg-type]
                message_ids=tuple(mids),
            )
        )

    def send_failed(
        self,
        *,
        customer: str,
        send_id: str,
        error: str,
        message: str,
        channel: str = "ch-messenger",
        platform: Platform = "messenger",
    ) -> EventFrame:
        return self.frame(
            SendFailed(
                channel_id=channel,
                platform=platform,
                customer=Customer(id=customer),
                timestamp_ms=self.now,
                send_id=send_id,
                error=error,
                message=message,
                device_id="another-device",
            )
        )
