"""Run an ASGI app as a real HTTP server on 127.0.0.1, on a free port, in a thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["AppFactory", "ServedApp", "serve_app", "serve_forever", "serve_in_process"]


class AppFactory:
    """Wraps ``build(base_url) -> app`` so ``serve_app`` can hand it its own address."""

    def __init__(self, build: Any) -> None:
        self.build = build

    def __call__(self, base_url: str) -> Any:
        return self.build(base_url)


class ServedApp:
    """A running server: ``url`` is its base URL without a trailing slash."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self.server = server
        self.thread = thread
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serve_app(app: Any, *, ws: str = "websockets-sansio", port: int = 0) -> Iterator[ServedApp]:
    """Serve ``app`` until the block ends; the server runs its own event loop in a thread.

    ``app`` may also be a callable taking the server's base URL and returning the app,
    for apps that must know their own address (a relay registering webhooks).
    """
    sock = _bound(port)
    port = sock.getsockname()[1]
    if isinstance(app, AppFactory):
        app = app(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(app, log_level="warning", ws=ws, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    served = ServedApp(server, thread, port)
    try:
        yield served
    finally:
        served.stop()
        sock.close()


def serve_forever(app: Any, port: int = 0, path: str = "") -> None:
    """Serve ``app`` in this process until killed (a fake run as its own process); the
    first line on stdout is its base URL, ending in ``path``."""
    sock = _bound(port)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}{path}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def serve_in_process(module: str, *args: str) -> Iterator[str]:
    """Run a fake's ``serve_forever`` (``python -m module args``) in its own process, so
    its CPU work does not share a benchmark's GIL; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _bound(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock
