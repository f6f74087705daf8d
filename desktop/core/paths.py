"""Where the app keeps its data (kept light: the window imports it before anything heavy)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir"]


def default_data_dir() -> Path:
    """``$CLIENTORA_HOME``, else the platform's usual place for app data."""
    if home := os.environ.get("CLIENTORA_HOME"):
        return Path(home)
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home())) / "Clientora"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clientora"
