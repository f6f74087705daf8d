"""Benchmark: the desktop window stays responsive. Offscreen; prints one JSON line:

    {"bench": "ui_responsiveness", "startup_ms": .., "burst_500_max_stall_ms": ..,
     "inbox_10k_filter_ms": .., ...}

* ``startup_ms``: from launching the app process to its window being on screen (the
  engine then loads in the background; ``ready_ms`` is when the inbox is usable, for a
  shop that has already set up, and ``first_run_ready_ms`` for a new one).
* ``burst_500_max_stall_ms``: the longest the Qt event loop went without running while
  500 customer messages (100 customers, 4 channels) arrived through the store in the
  sync's batches and the assistant drafted replies, the inbox open on screen.
* ``inbox_10k_filter_ms``: the slowest of typical filter actions (typing a search,
  choosing a channel, a status) on an inbox of 10,000 conversations, including the
  list view's relayout.

Usage: python -m tests.bench.ui_responsiveness [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]

CHANNELS = (
    ("bench-messenger", "messenger", "Butiku Arta"),
    ("bench-whatsapp", "whatsapp", "+383 44 555 010"),
    ("bench-instagram", "instagram", "@butiku.arta"),
    ("bench-viber", "viber", "Butiku Viber"),
)
NAMES = (
    "Arta",
    "Blerina",
    "Dardan",
    "Liridon",
    "Марко",
    "Jelena",
    "Dragan",
    "John",
    "Sara",
    "Besnik",
    "Ана",
    "Milica",
)
TEXTS = (
    "Përshëndetje, a e keni këtë në madhësinë M?",
    "Sa kushton dërgesa në Prizren?",
    "Zdravo, koliko košta dostava?",
    "Да ли радите суботом?",
    "Hi! Do you have it in black?",
    "A mund ta kthej nëse nuk më bën?",
)


# ---- startup (child process) -----------------------------------------------------------


def _child(data: str, setup: bool) -> int:
    """Run the real app start-up; print when the window shows and when the inbox is ready."""
    start = time.perf_counter()
    from PySide6.QtCore import QSettings

    from desktop.app import open_window

    settings = QSettings(str(Path(data) / "window.ini"), QSettings.Format.IniFormat)
    app, window, data_dir = open_window(["clientora", "--data", data, "--theme", "light"], settings)
    app.processEvents()
    print(f"shown {(time.perf_counter() - start) * 1000:.1f}", flush=True)

    import qasync

    from desktop.app import _main

    async def until_ready() -> None:
        main = asyncio.ensure_future(_main(window, data_dir, settings))
        page = None
        while page is None:
            await asyncio.sleep(0.005)
            if window.current_screen == "inbox":
                page = "inbox"
            elif window.pages.currentWidget() is not window.loading:
                page = "first-run"
        print(f"ready {page} {(time.perf_counter() - start) * 1000:.1f}", flush=True)
        if setup and page == "first-run":
            from desktop.ui.workspace import Workspace

            workspace = window.findChild(Workspace)
            assert workspace is not None
            workspace.first_run.shop.setText("Bench shop")
            workspace.first_run.local_button.click()
            while window.current_screen != "inbox":  # noqa: ASYNC110 - polls the window
                await asyncio.sleep(0.02)
        window.quit()
        await main

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        runner.run(until_ready())
    return 0


def _startup(rounds: int) -> dict[str, float]:
    """Launch the app ``rounds`` times on an existing shop (plus one first run); medians."""
    with tempfile.TemporaryDirectory(prefix="clientora-bench-") as tmp:
        shown: list[float] = []
        ready: list[float] = []
        first_ready = 0.0
        for round_ in range(rounds + 1):
            began = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.bench.ui_responsiveness", "--child", tmp]
                + (["--setup"] if round_ == 0 else []),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "CLIENTORA_HOME": tmp},
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                elapsed = (time.perf_counter() - began) * 1000
                if line.startswith("shown") and round_:
                    shown.append(elapsed)
                elif line.startswith("ready"):
                    if round_ == 0:
                        first_ready = elapsed
                    else:
                        ready.append(elapsed)
            if proc.wait(timeout=120) != 0:
                raise RuntimeError("the app did not start cleanly")
    return {
        "startup_ms": round(statistics.median(shown), 1),
        "ready_ms": round(statistics.median(ready), 1),
        "first_run_ready_ms": round(first_ready, 1),
    }


# ---- the burst and the big inbox (in process) ------------------------------------------


class _StallMeter:
    """Ticks every 2 ms on the Qt loop and remembers the longest gap between ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(2)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.worst = max(self.worst, now - self.last)
        self.last = now

    def start(self) -> None:
        self.last, self.worst = 0.0, 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return max(0.0, self.worst * 1000 - 2)


def _frames(count: int, customers: int, start_seq: int, now_ms: int) -> list[object]:
    from common.events import ChannelChanged, Customer, MessageReceived
    from common.protocol import EventFrame

    rng = random.Random(7)
    frames: list[object] = []
    seq = start_seq
    for channel_id, platform, name in CHANNELS:
        seq += 1
        frames.append(
            EventFrame(
                seq=seq,
                id=f"bench-{seq}",
                stored_at_ms=now_ms,
                event=ChannelChanged(
                    timestamp_ms=now_ms,
                    channel_id=channel_id,
                    platform=platform,  # type: ignore[arg-type]
                    status="connected",
                    name=name,
                ),
            )
        )
    for i in range(count):
        seq += 1
        who = rng.randrange(customers)
        channel_id, platform, _ = CHANNELS[who % len(CHANNELS)]
        frames.append(
            EventFrame(
                seq=seq,
                id=f"bench-{seq}",
                stored_at_ms=now_ms,
                event=MessageReceived(
                    channel_id=channel_id,
                    platform=platform,  # type: ignore[arg-type]
                    customer=Customer(id=f"c{who}", name=f"{NAMES[who % len(NAMES)]} {who}"),
                    timestamp_ms=now_ms - (count - i) * 10,
                    platform_id=f"bench-mid-{seq}",
                    text=rng.choice(TEXTS),
                ),
            )
        )
    return frames


async def _burst(messages: int) -> tuple[float, int, int]:
    """Run the real workspace in local mode and feed it ``messages`` in sync-sized batches."""
    import msgspec
    from PySide6.QtCore import QSettings

    from desktop.ui.main_window import MainWindow
    from desktop.ui.workspace import Workspace, open_engine

    with tempfile.TemporaryDirectory(prefix="clientora-bench-") as tmp:
        settings = QSettings(str(Path(tmp) / "window.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.show()
        engine = await open_engine(Path(tmp) / "shop")
        await engine.preferences.update(
            msgspec.structs.replace(
                engine.settings,
                relay=msgspec.structs.replace(engine.settings.relay, embedded_port=0),
            )
        )
        workspace = Workspace(engine, window, settings)
        await workspace.enter()
        await engine.session.run_locally("Bench shop")
        workspace._after_sign_in()
        await engine.preferences.update(msgspec.structs.replace(engine.settings, settle_s=0.5))
        for question, answer in (
            ("Sa kushton dërgesa?", "Dërgesa kushton 2 €."),
            ("Koliko košta dostava?", "Dostava košta 2 €."),
        ):
            await engine.kb.add_faq(question, answer)
        await asyncio.sleep(0.5)
        frames = _frames(messages, 100, 10_000_000, time.time_ns() // 1_000_000)
        meter = _StallMeter()
        meter.start()
        rng = random.Random(3)
        at = 0
        while at < len(frames):
            size = rng.randint(1, 50)  # live traffic arrives in small, uneven batches
            await engine.store.apply_events(frames[at : at + size])  # type: ignore[arg-type]
            at += size
            await asyncio.sleep(0.01)
        inbox = workspace.inbox
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (  # noqa: ASYNC110 - polls the window
            inbox.model.rowCount() < 100 or window.count("approvals") < 90
        ):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the last drafts and repaints
        stall = meter.stop()
        shown, drafts = inbox.model.rowCount(), window.count("approvals")
        await workspace.close()
        window.close()
        window.deleteLater()
    return stall, shown, drafts


async def _big_inbox(count: int) -> float:
    """Filter an inbox of ``count`` conversations as an owner would; the slowest action."""
    from PySide6.QtWidgets import QApplication

    from desktop.core.store import ConversationQuery, Store
    from desktop.ui.models.conversations import (
        ConversationFilter,
        ConversationListModel,
    )
    from desktop.ui.screens.lists import InboxScreen

    with tempfile.TemporaryDirectory(prefix="clientora-bench-") as tmp:
        store = await Store.open(Path(tmp) / "inbox.db")
        await store.set_identity("bench", "bench-device")
        frames = _frames(count, count, 20_000_000, time.time_ns() // 1_000_000)
        for at in range(0, len(frames), 2000):
            await store.apply_events(frames[at : at + 2000])  # type: ignore[arg-type]
        conversations = await store.list_conversations(ConversationQuery())
        await store.close()
    screen = InboxScreen()
    screen.resize(1300, 850)
    model = ConversationListModel()
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    screen.set_model(proxy)
    model.set_conversations(conversations)
    screen.show()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.processEvents()
    timings: list[float] = []

    def timed(action: object) -> None:
        began = time.perf_counter()
        action()  # type: ignore[operator]
        app.processEvents()  # the view relayouts and repaints
        timings.append((time.perf_counter() - began) * 1000)

    for text in ("a", "ar", "art", "arta 1", "марко", "dragan 5", ""):
        timed(lambda t=text: proxy.set_search(t))
    for channel in ("bench-viber", "bench-messenger", None):
        timed(lambda c=channel: proxy.set_filter(channel_id=c))
    timed(lambda: proxy.set_filter(statuses=("open", "waiting")))
    timed(lambda: proxy.set_filter(unread_only=True))
    timed(proxy.set_filter)
    screen.close()
    return max(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description="UI responsiveness benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer rounds; still 500 and 10k")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        return _child(args.child, args.setup)

    startup = _startup(rounds=2 if args.quick else 5)

    import qasync
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        stall, conversations, drafts = runner.run(_burst(500))
        filtering = runner.run(_big_inbox(10_000))
    print(
        json.dumps(
            {
                "bench": "ui_responsiveness",
                "startup_ms": startup["startup_ms"],
                "burst_500_max_stall_ms": round(stall, 1),
                "inbox_10k_filter_ms": round(filtering, 1),
                "burst_conversations": conversations,
                "burst_drafts": drafts,
                "ready_ms": startup["ready_ms"],
                "first_run_ready_ms": startup["first_run_ready_ms"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
