"""The desktop app as a daily program: one instance, start with the computer, data and logs
in the usual places, a crash report the owner can send."""

from __future__ import annotations

import configparser
import os
import plistlib
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.autostart import Autostart
from desktop.core.paths import default_data_dir

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTORA_")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "share"),
        HOME=str(tmp_path / "home"),
        PYTHONPATH=str(ROOT),
    )
    return env


def _clientora(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.cli", *args],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait_for(condition: object, timeout_s: float = 60.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_second_launch_raises_the_first_and_quit_ends_it(tmp_path: Path) -> None:
    """With the app running on a data folder, launching it again on that folder hands over
    to the first (which raises its window) and exits 0; ``--quit`` ends the first cleanly;
    another data folder is another app. The first app's log is in its data folder."""
    data = tmp_path / "shop"
    first = subprocess.Popen(
        [sys.executable, "-m", "desktop.cli", "--data", str(data)],
        env=_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = data / "logs" / "clientora.log"
    try:
        _wait_for(lambda: log.exists() and "listening for other launches" in log.read_text())
        second = _clientora(tmp_path, "--data", str(data))
        assert second.returncode == 0, second.stderr
        _wait_for(lambda: "another launch asked for the window" in log.read_text())
        assert first.poll() is None  # still running

        elsewhere = _clientora(tmp_path, "--data", str(tmp_path / "other"), "--quit")
        assert elsewhere.returncode == 1
        assert "not running" in elsewhere.stderr

        assert _clientora(tmp_path, "--data", str(data), "--quit").returncode == 0
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        assert first.stderr is not None
        first.stderr.close()


def test_start_with_the_computer_writes_the_xdg_autostart_entry(tmp_path: Path) -> None:
    """``clientora autostart on`` writes an XDG autostart entry that starts this app in
    the background; ``off`` removes it; ``status`` says which."""
    on = _clientora(tmp_path, "autostart", "on")
    assert on.returncode == 0, on.stderr
    entry = tmp_path / "config" / "autostart" / "clientora.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(entry)
    desktop = parser["Desktop Entry"]
    assert desktop["Type"] == "Application"
    command = shlex.split(desktop["Exec"])
    assert command[-1] == "--background"
    assert Path(command[0]).exists()
    assert _clientora(tmp_path, "autostart", "status").stdout.startswith("on: ")
    assert _clientora(tmp_path, "autostart", "off").stdout.strip() == "off"
    assert not entry.exists()


def test_start_with_the_computer_on_macos_is_a_launch_agent(tmp_path: Path) -> None:
    """On macOS the entry is a per-user LaunchAgent that runs the app at sign-in."""
    agent = Autostart(
        ["/Applications/Clientora.app/Contents/MacOS/Clientora"], platform="darwin", home=tmp_path
    )
    agent.enable()
    assert agent.path == tmp_path / "Library" / "LaunchAgents" / "com.clientora.desktop.plist"
    plist = plistlib.loads(agent.path.read_bytes())
    assert plist["RunAtLoad"] is True
    assert plist["ProgramArguments"] == [
        "/Applications/Clientora.app/Contents/MacOS/Clientora",
        "--background",
    ]
    assert agent.enabled()
    agent.disable()
    assert not agent.enabled()


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, "home/.local/share/clientora"),
        ("linux", {"XDG_DATA_HOME": "/xdg"}, "/xdg/clientora"),
        (
            "win32",
            {"LOCALAPPDATA": "C:/Users/a/AppData/Local"},
            "C:/Users/a/AppData/Local/Clientora",
        ),
        ("darwin", {}, "home/Library/Application Support/Clientora"),
        ("darwin", {"CLIENTORA_HOME": "/data"}, "/data"),
    ],
)
def test_data_lives_in_the_platforms_usual_folder(
    platform: str, environ: dict[str, str], expected: str
) -> None:
    """Each platform's own place for an app's data, unless ``CLIENTORA_HOME`` says."""
    found = default_data_dir(platform, environ, home=Path("home"))
    assert found == Path(expected)


def test_an_uncaught_error_leaves_a_crash_report_and_a_fault_leaves_its_trace(
    tmp_path: Path,
) -> None:
    """An uncaught exception writes ``logs/crash-*.txt`` (traceback and versions); a hard
    crash in native code writes Python's fault report to ``logs/fatal.log``."""
    code = (
        "import sys; from pathlib import Path; "
        "from desktop.core.crashlog import install_crash_log; "
        "install_crash_log(Path(sys.argv[1])); "
        "exec(sys.argv[2])"
    )

    def crash(folder: Path, statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, str(folder), statement],
            env=_env(tmp_path),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    raised = crash(tmp_path / "a", "raise RuntimeError('the printer is on fire')")
    assert raised.returncode == 1
    (report,) = (tmp_path / "a" / "logs").glob("crash-*.txt")
    text = report.read_text()
    assert text.startswith("Clientora ")
    assert "RuntimeError: the printer is on fire" in text
    assert "Traceback" in text
    assert "the printer is on fire" in (tmp_path / "a" / "logs" / "clientora.log").read_text()

    faulted = crash(tmp_path / "b", "import faulthandler; faulthandler._sigsegv()")
    assert faulted.returncode != 0
    assert "Fatal Python error" in (tmp_path / "b" / "logs" / "fatal.log").read_text()


def test_settings_screen_offers_starting_with_the_computer(qtbot: QtBot) -> None:
    """The settings screen shows the autostart state and asks for the change when clicked."""
    from desktop.ui.screens.settings import SettingsScreen

    screen = SettingsScreen()
    qtbot.addWidget(screen)
    screen.set_autostart(False)
    with qtbot.waitSignal(screen.autostart_changed) as asked:
        screen.autostart.click()
    assert asked.args == [True]
    screen.set_autostart(True)
    assert screen.autostart.isChecked()
