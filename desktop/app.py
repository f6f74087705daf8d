"""The desktop app's entry point: a Qt application, the qasync loop, and the main window."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from desktop.core.paths import default_data_dir
from desktop.ui.instance import SingleInstance, instance_name, send_to_running
from desktop.ui.main_window import MainWindow
from desktop.ui.text import plain_error
from desktop.ui.theme import apply_theme

if TYPE_CHECKING:
    from desktop.ui.workspace import Workspace

__all__ = ["main_window_settings", "open_window", "run"]

log = logging.getLogger(__name__)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="clientora", add_help=True)
    parser.add_argument("--data", type=Path, default=None, help="data folder")
    parser.add_argument(
        "--quit", action="store_true", help="ask the running app (of this data folder) to quit"
    )
    parser.add_argument("--background", action="store_true", help="start minimised (as at sign-in)")
    parser.add_argument(
        "--theme",
        choices=("system", "light", "dark"),
        default=None,
        help="light or dark look (default: as last chosen, else the system's)",
    )
    args, _ = parser.parse_known_args(list(argv[1:]))
    return args


def main_window_settings() -> QSettings:
    """Where the window remembers its size, position, last screen and look."""
    return QSettings("Clientora", "Clientora")


def _default_data_dir() -> Path:
    settings_module = importlib.import_module("desktop.core.settings")
    folder: Path = settings_module.default_data_dir()
    return folder


async def _main(window: MainWindow, data_dir: Path | None, settings: QSettings) -> int:
    """Load the engine in the background, hand the window to it, and wait for quit."""
    loop = asyncio.get_running_loop()
    workspace: Workspace | None = None
    try:
        # The engine pulls in LanceDB, the OpenAI client and the relay: seconds of imports
        # that run on a worker thread while the window already shows "Opening your shop".
        module = await loop.run_in_executor(None, importlib.import_module, "desktop.ui.workspace")
        if data_dir is None:
            data_dir = await loop.run_in_executor(None, _default_data_dir)
        workspace = await module.open_workspace(window, data_dir, settings)
    except Exception as exc:
        log.exception("the app could not open")
        window.show_fatal(f"Clientora could not open your data: {plain_error(exc)}")
    await window.quit_event.wait()
    if workspace is not None:
        await workspace.close()
    return 0


def open_window(
    argv: Sequence[str], settings: QSettings | None = None
) -> tuple[QApplication, MainWindow, Path | None]:
    """The application and its window, shown at once (the engine is not loaded yet)."""
    args = _arguments(argv)
    data_dir = Path(args.data) if args.data is not None else None
    app = QApplication.instance() or QApplication(list(argv))
    assert isinstance(app, QApplication)
    app.setApplicationName("Clientora")
    app.setOrganizationName("Clientora")
    app.setDesktopFileName("clientora")
    # The window may hide in the tray; the app ends when the owner chooses Quit.
    app.setQuitOnLastWindowClosed(False)
    settings = settings or main_window_settings()
    scheme = args.theme or str(settings.value("window/theme", "system"))
    apply_theme(app, "dark" if scheme == "dark" else "light" if scheme == "light" else "system")
    window = MainWindow(settings)
    if args.background:
        window.showMinimized()  # started with the computer: out of the way until wanted
    else:
        window.show()
    return app, window, data_dir


def _bring_to_front(window: MainWindow) -> None:
    log.info("another launch asked for the window")
    window.showNormal()
    window.raise_()
    window.activateWindow()


def run(argv: Sequence[str], settings: QSettings | None = None) -> int:
    """Run the app until the owner quits; returns the process exit code.

    One app runs per data folder: a second launch raises the first one's window (or,
    with ``--quit``, ends it) and exits. ``settings`` is where the window remembers
    itself (default: the user's own).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    args = _arguments(argv)
    QApplication.instance() or QApplication(list(argv))
    name = instance_name(args.data if args.data is not None else default_data_dir())
    if args.quit:
        if send_to_running(name, "quit"):
            return 0
        print("Clientora is not running.", file=sys.stderr)
        return 1
    instance = SingleInstance(name)
    if send_to_running(name, "show") or not instance.listen():
        return 0  # the app that runs already has raised its window
    log.info("listening for other launches")
    try:
        app, window, data_dir = open_window(argv, settings)
        instance.show_requested.connect(lambda: _bring_to_front(window))
        instance.quit_requested.connect(window.quit)
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(_main(window, data_dir, window.settings))
    finally:
        instance.close()


if __name__ == "__main__":
    sys.exit(run(sys.argv))
