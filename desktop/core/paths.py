"""Where the app keeps its data (kept light: the window imports it before anything heavy)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["default_data_dir", "log_dir"]


def default_data_dir(
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """``$CLIENTORA_HOME``, else the platform's usual place for an app's own data:
    ``%LOCALAPPDATA%\\Clientora`` (not roaming: the knowledge base can be large),
    ``~/Library/Application Support/Clientora``, ``$XDG_DATA_HOME/clientora``."""
    env = os.environ if environ is None else environ
    home = home or Path.home()
    if folder := env.get("CLIENTORA_HOME"):
        return Path(folder)
    if platform == "win32":
        base = env.get("LOCALAPPDATA") or env.get("APPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "Clientora"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Clientora"
    base = env.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base) / "clientora"


def log_dir(data_dir: Path) -> Path:
    """The app's log and crash reports (inside the data folder, so one folder to send)."""
    return data_dir / "logs"
