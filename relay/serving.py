"""Serving the relay: one process, or several worker processes sharing one listening socket.

Several processes need PostgreSQL (its LISTEN/NOTIFY wakes the process that holds a
device's stream when another process stored the event); SQLite has one writer process.
On SIGTERM each process drains: ``/readyz`` turns 503, web-chat streams end (EventSource
comes back with Last-Event-ID), device streams close with 1012 (the desktop reconnects
and resumes from its cursor, through the proxy to a process that is still up), and
requests in flight finish, for up to ``DRAIN_S`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final

import uvicorn

from relay.app import create_app
from relay.logs import configure_logging
from relay.settings import Settings

__all__ = ["DRAIN_S", "WorkersNeedPostgres", "serve"]

log = logging.getLogger("clientora.relay.serving")

#: How long a stopping process lets requests in flight finish before it cancels them
#: (a platform send can take ``send_timeout_s``); the systemd unit allows more.
DRAIN_S: Final = 25
#: A worker that dies is started again after this long (doubling while it keeps dying).
RESPAWN_S: Final = 1.0
RESPAWN_CAP_S: Final = 30.0


class WorkersNeedPostgres(ValueError):
    """``--workers`` above 1 with a SQLite database."""


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app it drains before connections are shut."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self._app.state, "services", None)
        if services is not None:
            services.wakeups.close()
        await super().shutdown(sockets)


def _config(settings: Settings, app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # halves stream throughput for small frames
        log_config=None,
        access_log=False,
        # Off unless configured: uvicorn would otherwise believe any local proxy's headers.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or "",
        timeout_graceful_shutdown=DRAIN_S,
    )


def _run_one(settings: Settings, sockets: list[socket.socket] | None) -> None:
    """One process serving until SIGTERM/SIGINT (a worker, or the only process)."""
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = create_app(settings)
    server = _DrainingServer(_config(settings, app), app)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(3)  # uvicorn's "startup failed" status (the lifespan logged why)


def serve(settings: Settings) -> int:
    """Serve with ``settings.workers`` processes; returns the exit status."""
    if settings.workers > 1 and settings.sqlite_path is not None:
        raise WorkersNeedPostgres(
            f"--workers {settings.workers} needs PostgreSQL: SQLite allows one writer "
            "process. Set CLIENTORA_RELAY_DATABASE_URL=postgresql://... or use --workers 1."
        )
    if settings.workers <= 1:
        _run_one(settings, None)
        return 0
    return _Supervisor(settings).run()


class _Supervisor:
    """Binds the socket once, keeps ``workers`` spawned processes serving on it, and
    passes SIGTERM/SIGINT on to them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.processes: dict[int, BaseProcess] = {}
        self.context = multiprocessing.get_context("spawn")

    def _settings_for(self, index: int) -> Settings:
        # Retention and the daily channel checks run in one process only; each process
        # still saves its own channel activity (health_flush_s).
        if index == 0:
            return self.settings
        return dataclasses.replace(self.settings, retention_interval_s=0, health_interval_s=0)

    def _start(self, index: int, sock: socket.socket) -> None:
        process = self.context.Process(
            target=_run_one,
            args=(self._settings_for(index), [sock]),
            name=f"clientora-relay-{index}",
            daemon=False,
        )
        process.start()
        self.processes[index] = process
        log.info("worker started", extra={"worker": index, "pid": process.pid})

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> int:
        configure_logging(self.settings.log_level, json_lines=self.settings.log_json)
        sock = _config(self.settings, None).bind_socket()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        delays = dict.fromkeys(range(self.settings.workers), RESPAWN_S)
        try:
            for index in range(self.settings.workers):
                self._start(index, sock)
            while not self.stopping.wait(0.5):
                for index, process in list(self.processes.items()):
                    if process.is_alive():
                        continue
                    log.error(
                        "worker exited; starting it again",
                        extra={"worker": index, "exitcode": process.exitcode},
                    )
                    if self.stopping.wait(delays[index]):
                        break
                    delays[index] = min(delays[index] * 2, RESPAWN_CAP_S)
                    self._start(index, sock)
        finally:
            for process in self.processes.values():
                if process.is_alive() and process.pid is not None:
                    process.terminate()  # SIGTERM: each one drains
            for process in self.processes.values():
                process.join(DRAIN_S + 5)
                if process.is_alive():
                    process.kill()
                    process.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
        return 0
