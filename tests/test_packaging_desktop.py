"""The desktop app built with PyInstaller runs with no Python: on its built-in relay, under a
real X server, it answers a message on its test channel and quits cleanly.

The build takes minutes, so it runs on CI (``CI=true``) or when asked
(``CLIENTORA_BUILD_DESKTOP=1``); ``CLIENTORA_DESKTOP_BUNDLE=dist/clientora`` tests a
folder built before instead of building one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bench._relay_proc import free_port
from tests.needs import tool

ROOT = Path(__file__).resolve().parents[1]
VISITOR = "smoke-visitor-0001"


def _wanted() -> None:
    if os.environ.get("CLIENTORA_DESKTOP_BUNDLE"):
        return
    if os.environ.get("CI") != "true" and os.environ.get("CLIENTORA_BUILD_DESKTOP") != "1":
        pytest.skip("the desktop build takes minutes: runs on CI or with CLIENTORA_BUILD_DESKTOP=1")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-folder app: built now into a temporary folder (with its tarball checked),
    or the one ``CLIENTORA_DESKTOP_BUNDLE`` names."""
    _wanted()
    given = os.environ.get("CLIENTORA_DESKTOP_BUNDLE")
    if given:
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("desktop-build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "installers.build_desktop",
            f"--out={out}",
            f"--work={out / 'work'}",
        ],
        cwd=ROOT,
        check=True,
        timeout=1500,
    )
    (archive,) = out.glob("clientora-*-linux-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {
        "clientora/clientora",
        "clientora/clientora.desktop",
        "clientora/clientora.svg",
    } <= names
    return out / "clientora"


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    """A real X server (Xvfb) on a display number it picks itself."""
    xvfb = tool("Xvfb", "apt-get install xvfb")
    read, write = os.pipe()
    with (tmp_path / "xvfb.log").open("wb") as errors:
        server = subprocess.Popen(
            [xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number, (tmp_path / "xvfb.log").read_text()
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def _env(tmp_path: Path, display: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLIENTORA_", "PYTHON", "QT_")) and k != "VIRTUAL_ENV"
    }
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "share"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return env


def _run(program: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(program), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wait(condition: object, what: str, timeout_s: float = 120.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.timeout(1800)
def test_built_app_answers_its_test_channel_and_quits_cleanly(
    bundle: Path, display: str, tmp_path: Path
) -> None:
    """The bundled ``clientora`` sets up "run on this computer", learns an FAQ, opens its
    window on a real X display, answers a visitor on the test channel by itself (auto
    mode), and exits 0 when asked to quit."""
    program = bundle / "clientora"
    env = _env(tmp_path, display)
    data = tmp_path / "shop"
    _run(program, env, "--data", str(data), "local", "--shop", "Smoke Shop")
    _run(program, env, "--data", str(data), "kb", "add-faq", "When are you open?",
         "We are open every day from 9 to 18.")  # fmt: skip
    channel = (data / "test-channel").read_text().strip()
    settings = json.loads((data / "settings.json").read_text())
    settings.setdefault("policies", {})[channel] = {"mode": "auto", "threshold": 0.5}
    (data / "settings.json").write_text(json.dumps(settings))
    # The built-in relay comes back on the port it used last time (its web-chat address):
    # give it one nobody else uses here.
    port = free_port()
    (data / "relay" / "port").write_text(f"{port}\n")

    log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen(
        [str(program), "--data", str(data)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    relay = f"http://127.0.0.1:{port}"
    try:

        def relay_up() -> bool:
            assert app.poll() is None, (tmp_path / "app.log").read_text()
            try:
                return httpx.get(f"{relay}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait(relay_up, "the built-in relay")
        said = httpx.post(
            f"{relay}/webchat/{channel}/messages",
            json={"visitor_id": VISITOR, "text": "Hi! When are you open?", "name": "Ana"},
        )
        assert said.status_code == 202, said.text
        replies: list[str] = []

        def answered() -> bool:
            lines = httpx.get(
                f"{relay}/webchat/{channel}/messages", params={"visitor_id": VISITOR}
            ).json()
            replies[:] = [line["text"] for line in lines if line["direction"] == "out"]
            return bool(replies)

        _wait(answered, "the app's reply")
        assert "9 to 18" in replies[0]

        _run(program, env, "--data", str(data), "--quit")
        assert app.wait(60) == 0, (tmp_path / "app.log").read_text()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()
