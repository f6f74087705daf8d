"""The app's entry point: the window shows at once, a new shop gets the first-run screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.app import run
from desktop.ui.main_window import MainWindow


def test_run_shows_the_first_run_screen_and_quits_cleanly(
    qapp: QApplication, tmp_path: Path
) -> None:
    """``run`` shows the window while the engine loads, lands on first run, exits with 0."""
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    seen: list[str] = []

    def watch() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            return
        window = windows[-1]
        if window.pages.currentWidget() is window.loading:
            if "loading" not in seen:
                seen.append("loading")
            return
        seen.append(type(window.pages.currentWidget()).__name__)
        timer.stop()
        window.quit()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(watch)
    timer.start()
    code = run(["clientora", "--data", str(tmp_path / "shop"), "--theme", "light"], settings)
    assert code == 0
    assert seen == ["loading", "FirstRunScreen"]
