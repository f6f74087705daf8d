"""The built-in relay keeps its address across restarts (the web chat's link depends on it)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from desktop.embedded import EmbeddedRelay


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_quick_restart_gets_the_same_port(tmp_path: Path) -> None:
    """Stopped right after serving (its connection left in TIME_WAIT), it binds again."""
    port = _free_port()
    first = EmbeddedRelay(tmp_path, port=port)
    url = first.start()
    assert _port(url) == port
    with httpx.Client() as client:
        assert client.get(f"{url}/healthz").status_code == 200
        first.stop()  # the relay closes the kept-alive connection: TIME_WAIT on its side
    second = EmbeddedRelay(tmp_path, port=port)
    try:
        assert second.start() == url
    finally:
        second.stop()


def test_the_port_used_last_time_wins_over_the_default(tmp_path: Path) -> None:
    """With the default taken it moves to another port, and comes back to that one later."""
    default = _free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", default))
        squatter.listen()
        moved = EmbeddedRelay(tmp_path, port=default)
        other = _port(moved.start())
        moved.stop()
    assert other != default
    again = EmbeddedRelay(tmp_path, port=default)  # the default is free again now
    try:
        assert _port(again.start()) == other
    finally:
        again.stop()
