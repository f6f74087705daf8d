"""Real server processes for benchmarks and crash tests: the relay, or a bare baseline app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.relay_helpers import APP_SECRET, TEST_KEYS, VERIFY_TOKEN, Account, sign_up

__all__ = [
    "PAGE_ID",
    "PAGE_TOKEN",
    "ServerProcess",
    "bare_process",
    "free_port",
    "relay_process",
    "signed_up_with_page",
]

PAGE_ID = "104000000000001"
PAGE_TOKEN = "EAAG-bench-page-token-1234567890"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nobody listens on now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server child process that is ready once ``ready_path`` answers 200.

    ``start`` may be called again after ``kill``/``stop``: same command and
    environment (so the same database), on a fresh port.
    """

    def __init__(
        self, argv: list[str], env: dict[str, str], log_path: Path, ready_path: str, port: int = 0
    ) -> None:
        self._fixed_port = port
        self._argv = argv
        self._env = env
        self._log_path = log_path
        self._ready_path = ready_path
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the server is not running")
        return self._proc.pid

    def start(self, timeout_s: float = 30.0) -> None:
        """Start on a free port and wait until it answers ``ready_path``."""
        if self._proc is not None:
            raise RuntimeError("the server is already running")
        self.port = self._fixed_port or free_port()
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [*self._argv, "--port", str(self.port)],
                env=self._env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"server exited while starting:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self._ready_path, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server not ready in {timeout_s} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self._end(signal.SIGKILL, 10.0)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait for a graceful exit (SIGKILL if it takes too long); returns
        the exit status (None if it was not running)."""
        return self._end(signal.SIGTERM, timeout_s)

    def _end(self, sig: signal.Signals, timeout_s: float) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # The parent's own relay settings must not leak into the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTORA_RELAY_")}
    env.update(extra)
    return env


def relay_process(workdir: Path, port: int = 0, **settings: str) -> ServerProcess:
    """``clientora-relay serve`` with its database in ``workdir``; ``settings`` are extra
    ``CLIENTORA_RELAY_*`` values by field name (e.g. ``log_level="INFO"``). ``port``: a
    fixed port (for a ``public_url`` known in advance); 0 picks a free one at each start."""
    values = {
        "database_url": f"sqlite:///{workdir / 'relay.db'}",
        "key_file": str(workdir / "master.key"),
        "master_keys": TEST_KEYS,
        "meta_app_secret": APP_SECRET,
        "meta_verify_token": VERIFY_TOKEN,
        "host": "127.0.0.1",
        "log_level": "WARNING",
        "login_rate_per_minute": "100000",
        "password_memory_kib": "1024",
        "password_iterations": "1",
        **settings,
    }
    env = _child_env({f"CLIENTORA_RELAY_{k.upper()}": v for k, v in values.items()})
    argv = [sys.executable, "-m", "relay.cli", "serve"]
    return ServerProcess(argv, env, workdir / "relay.log", "/readyz", port)


def bare_process(workdir: Path, kind: str = "litestar") -> ServerProcess:
    """A baseline served with the relay's uvicorn options: a plain Litestar handler
    (``litestar``) or a raw ASGI app (``asgi``) that read the body and answer 200."""
    argv = [sys.executable, "-m", "tests.bench._bare_app", "--kind", kind]
    return ServerProcess(argv, _child_env({}), workdir / f"bare-{kind}.log", "/healthz")


def signed_up_with_page(base_url: str, page_id: str = PAGE_ID) -> Account:
    """A new business with one device and a connected Messenger page."""
    account = sign_up(base_url)
    account.connect(platform="messenger", page_id=page_id, access_token=PAGE_TOKEN, name="Bench")
    return account
