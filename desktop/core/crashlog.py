"""The app's log files: a rotating log and crash reports the owner can send.

``logs/clientora.log`` (1 MB, three old files kept) holds what the app logs; an
uncaught exception also writes ``logs/crash-<time>.txt`` with the traceback and the
versions, and a hard crash (a fault in Qt or another native library) appends Python's
fault report to ``logs/fatal.log``. Log lines never hold tokens or passwords.
"""

from __future__ import annotations

import faulthandler
import importlib.metadata
import logging
import logging.handlers
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from desktop.core.paths import log_dir

__all__ = ["install_crash_log"]

log = logging.getLogger("clientora.crash")

LOG_BYTES: Final = 1_000_000
LOG_BACKUPS: Final = 3
#: The fault log stays open for the life of the process (faulthandler writes to its fd).
_fatal_files: list[IO[str]] = []


def _version() -> str:
    try:
        return importlib.metadata.version("clientora")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _report(
    folder: Path, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}.txt"
    text = (
        f"Clientora {_version()} crashed at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"Python {platform.python_version()} on {platform.platform()}\n\n"
        + "".join(traceback.format_exception(kind, exc, tb))
    )
    path.write_text(text, encoding="utf-8")
    return path


def install_crash_log(data_dir: Path) -> Path:
    """Log to ``data_dir/logs`` and catch crashes there; returns the folder."""
    folder = log_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(
        folder / "clientora.log", maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if not root.handlers and sys.stderr is not None:  # as basicConfig would (no console
        console = logging.StreamHandler()  # in a windowed Windows build: stderr is None)
        console.setFormatter(formatter)
        root.addHandler(console)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)

    if not _fatal_files:
        _fatal_files.append((folder / "fatal.log").open("a", encoding="utf-8"))
        faulthandler.enable(_fatal_files[0])

    previous = sys.excepthook

    def on_uncaught(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            path = _report(folder, kind, exc, tb)
            log.critical("uncaught exception; report in %s", path, exc_info=(kind, exc, tb))
        previous(kind, exc, tb)

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            on_uncaught(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = on_uncaught
    threading.excepthook = on_thread
    return folder
