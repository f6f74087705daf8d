""" "Start with the computer": an XDG autostart entry, a Windows Run key, a macOS LaunchAgent.

Each is the platform's own per-user mechanism, needs no administrator rights and is
undone by deleting one entry. The app starts hidden in the tray (``--background``).
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = ["Autostart", "describe", "launch_command"]

APP_ID: Final = "com.clientora.desktop"
RUN_KEY: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE: Final = "Clientora"


def launch_command() -> list[str]:
    """How to start this app again: the bundled program, else the installed command."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    found = shutil.which("clientora")
    if found:
        return [found]
    return [sys.executable, "-m", "desktop.cli"]


def _desktop_quote(arg: str) -> str:
    """Quote one argument for an ``Exec=`` line of a .desktop file."""
    if arg and all(c.isalnum() or c in "/-_.=:" for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


class Autostart:
    """The current user's autostart entry for ``command`` on ``platform``."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        platform: str = sys.platform,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.command = [*command, "--background"]
        self.platform = platform
        self.home = home or Path.home()
        self.environ = os.environ if environ is None else environ

    @property
    def path(self) -> Path | None:
        """The file that holds the entry (None on Windows, where it is a registry value)."""
        if self.platform == "win32":
            return None
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
        config = self.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "autostart" / "clientora.desktop"

    def enabled(self) -> bool:
        if self.platform == "win32":
            return _windows_value() is not None
        path = self.path
        return path is not None and path.exists()

    def enable(self) -> None:
        if self.platform == "win32":
            _windows_set(" ".join(f'"{a}"' if " " in a else a for a in self.command))
            return
        path = self.path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self._mac_plist() if self.platform == "darwin" else self._xdg_entry())
        os.replace(tmp, path)

    def disable(self) -> None:
        if self.platform == "win32":
            _windows_set(None)
            return
        path = self.path
        if path is not None:
            path.unlink(missing_ok=True)

    def _xdg_entry(self) -> bytes:
        exec_line = " ".join(_desktop_quote(a) for a in self.command)
        return (
            "[Desktop Entry]\n"
            "Type=Application\n"
            "Name=Clientora\n"
            "Comment=Answers your shop's customers\n"
            f"Exec={exec_line}\n"
            "Icon=clientora\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n"
        ).encode()

    def _mac_plist(self) -> bytes:
        return plistlib.dumps(
            {
                "Label": APP_ID,
                "ProgramArguments": list(self.command),
                "RunAtLoad": True,
                "ProcessType": "Interactive",
            }
        )


# Windows: HKEY_CURRENT_USER\...\Run, the per-user list Explorer starts at sign-in.
# Written and reviewed, not run here (no Windows machine in CI; see docs/packaging.md).
if sys.platform == "win32":
    import winreg

    def _windows_value() -> str | None:
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _ = winreg.QueryValueEx(key, RUN_VALUE)
        except FileNotFoundError:
            return None
        return str(value)

    def _windows_set(value: str | None) -> None:
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if value is None:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, RUN_VALUE)
            else:
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, value)

else:

    def _windows_value() -> str | None:
        raise OSError("the Windows registry is only there on Windows")

    def _windows_set(value: str | None) -> None:
        raise OSError("the Windows registry is only there on Windows")


def describe(entry: Autostart) -> str:
    """One line for the command line: where the entry is and what it starts."""
    where = str(entry.path) if entry.path else rf"HKCU\{RUN_KEY}\{RUN_VALUE}"
    return f"{where}: {shlex.join(entry.command)}"
