"""One app per data folder: a second launch hands its request to the first and exits.

The first instance listens on a local socket (a Unix socket or a Windows named pipe,
readable by this user only) named after the data folder; a later launch connects,
sends one line (``show`` to raise the window, ``quit`` to end the app) and leaves.
A socket left behind by a crashed instance is removed when nobody answers on it.
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path
from typing import Final

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

__all__ = ["SingleInstance", "instance_name", "send_to_running"]

COMMANDS: Final = frozenset({"show", "quit"})
TIMEOUT_MS: Final = 2000


def instance_name(data_dir: Path) -> str:
    """The socket name for one user's data folder (short: Unix sockets allow ~100 bytes)."""
    key = f"{getpass.getuser()}\0{data_dir.expanduser().resolve()}"
    return "clientora-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def send_to_running(name: str, command: str) -> bool:
    """Give ``command`` to the instance listening on ``name``; False if none answers."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write(command.encode() + b"\n")
    delivered = socket.waitForBytesWritten(TIMEOUT_MS)
    # Wait for the first instance to close its end: it has read the line by then.
    if socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
        socket.waitForDisconnected(TIMEOUT_MS)
    socket.abort()
    return delivered


class SingleInstance(QObject):
    """The first instance's listener: emits what later launches ask for."""

    show_requested = Signal()
    quit_requested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Start listening; removes a stale socket of a crashed instance first."""
        if self._server.listen(self.name):
            return True
        if send_to_running(self.name, "show"):
            return False  # another instance is alive after all
        QLocalServer.removeServer(self.name)
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.canReadLine():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        command = bytes(socket.readLine().data()).decode(errors="replace").strip()
        socket.disconnectFromServer()
        if command == "show":
            self.show_requested.emit()
        elif command == "quit":
            self.quit_requested.emit()
