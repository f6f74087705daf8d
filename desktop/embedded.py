"""A relay running inside the desktop app, for "run on this computer".

This is the one desktop module that imports the relay package: it composes the two
halves for a shop with no server. The relay serves on 127.0.0.1 from its own thread
and event loop, so its work never runs on the UI's loop.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from relay.app import create_app
from relay.settings import Settings

__all__ = ["EmbeddedRelay"]


def _socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform == "win32":
        # Windows' SO_REUSEADDR would let two servers share a port; this refuses that.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        # A quick restart finds the last run's connections in TIME_WAIT: without this the
        # port stays "in use" for a minute and the web chat's address would change.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def _bind(*ports: int) -> socket.socket:
    """Bind 127.0.0.1 on the first free port of ``ports``, else on any free port."""
    for port in ports:
        try:
            return _socket(port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == 0:
                raise
    return _socket(0)


def _read_port(path: Path) -> int | None:
    try:
        port = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


class EmbeddedRelay:
    """Start with :meth:`start` (blocking: call it off the UI thread), stop with :meth:`stop`."""

    def __init__(self, folder: Path, *, port: int = 8700) -> None:
        self.folder = folder
        self.port = port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = 20.0) -> str:
        if self.running:
            return self.url
        self.folder.mkdir(parents=True, exist_ok=True)
        # The web chat's address (embed snippet, link, QR code) carries the port: the one
        # used last time wins over the default, so the address stays the same.
        remembered = self.folder / "port"
        last = _read_port(remembered) if self.port else None
        sock = _bind(*dict.fromkeys(p for p in (last, self.port) if p is not None))
        port = sock.getsockname()[1]
        if self.port:
            remembered.write_text(f"{port}\n", encoding="utf-8")
        self.url = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=f"sqlite:///{self.folder / 'relay.db'}",
            key_file=str(self.folder / "master.key"),
            host="127.0.0.1",
            port=port,
            public_url=self.url,
            signup_enabled=True,
            log_level="WARNING",
            log_json=False,
        )
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # nothing sits in front of a relay on this computer
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="clientora-relay", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("The built-in relay did not start.")
            time.sleep(0.02)
        self._server, self._thread, self._sock = server, thread, sock
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
