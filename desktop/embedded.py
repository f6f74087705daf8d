"""A relay running inside the desktop app, for "run on this computer".

This is the one desktop module that imports the relay package: it composes the two
halves for a shop with no server. The relay serves on 127.0.0.1 from its own thread
and event loop, so its work never runs on the UI's loop.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from pathlib import Path

import uvicorn

from relay.app import create_app
from relay.settings import Settings

__all__ = ["EmbeddedRelay"]


def _bind(port: int) -> socket.socket:
    """Bind 127.0.0.1:port, or any free port when that one is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            sock.close()
            raise
        sock.bind(("127.0.0.1", 0))
    return sock


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
        sock = _bind(self.port)
        port = sock.getsockname()[1]
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
