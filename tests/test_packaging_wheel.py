"""The wheel installs both commands with every resource inside (``pip install
"clientora[relay]"`` on a server, ``pipx install "clientora[desktop]"`` on a desktop)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.bench._relay_proc import ServerProcess
from tests.relay_helpers import TEST_KEYS, sign_up

ROOT = Path(__file__).resolve().parents[1]
#: Building and installing the wheel takes a minute or two on a busy 2-core machine.
pytestmark = pytest.mark.timeout(600)


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel built from this checkout, installed into a fresh virtual environment
    whose dependencies come from the current one (no downloads): (wheel, venv)."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", tmp / "dist", ROOT, cwd=tmp,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("clientora-*.whl")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run(venv / "bin" / "python", "-c", purelib, cwd=tmp).strip())
    # The dependencies: this environment's packages, after the new one's own (a plain path
    # line, so this checkout's editable install is not picked up with them).
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
        "--no-deps", "--no-index", wheel, cwd=tmp,
    )  # fmt: skip
    return wheel, venv


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLIENTORA_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["HOME"] = str(tmp)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return env


def test_the_wheel_holds_every_resource(installed: tuple[Path, Path]) -> None:
    """Every file under resources/ (icons, pages, prompts, web chat, style) is in the wheel,
    with the four packages and both commands."""
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _run("git", "ls-files", "resources", cwd=ROOT).split()
    assert tracked
    assert [f for f in tracked if f not in names] == []
    for package in ("common", "relay", "desktop", "resources"):
        assert f"{package}/__init__.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "clientora-relay = relay.cli:main" in scripts
    assert "clientora = desktop.cli:main" in scripts


def test_installed_commands_run_from_the_wheel_not_the_checkout(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """In the fresh environment both commands answer ``--help``, the packages load from the
    environment, and the desktop command works on a knowledge base."""
    _, venv = installed
    env = _clean_env(tmp_path)
    code = "import relay, desktop, resources; print(resources.__file__)"
    where = _run(venv / "bin" / "python", "-c", code, cwd=tmp_path, env=env)
    assert where.startswith(str(venv))
    assert "serve" in _run(venv / "bin" / "clientora-relay", "--help", cwd=tmp_path, env=env)
    assert "autostart" in _run(venv / "bin" / "clientora", "--help", cwd=tmp_path, env=env)
    data = tmp_path / "shop"
    clientora = venv / "bin" / "clientora"
    _run(clientora, "--data", data, "kb", "add-faq", "Do you deliver?", "Yes, within the city.",
         cwd=tmp_path, env=env)  # fmt: skip
    asked = _run(clientora, "--data", data, "kb", "ask", "do you deliver", cwd=tmp_path, env=env)
    assert "within the city" in asked


def test_installed_relay_serves_its_pages_and_web_chat(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """``clientora-relay serve`` from the wheel serves the privacy page and the web chat
    with its assets: resources found inside the installed package."""
    _, venv = installed
    env = _clean_env(tmp_path)
    env.update(
        CLIENTORA_RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.db'}",
        CLIENTORA_RELAY_MASTER_KEYS=TEST_KEYS,
        CLIENTORA_RELAY_KEY_FILE=str(tmp_path / "master.key"),
        CLIENTORA_RELAY_PASSWORD_MEMORY_KIB="1024",
        CLIENTORA_RELAY_PASSWORD_ITERATIONS="1",
        CLIENTORA_RELAY_OPERATOR_NAME="Wheel Test Ltd",
    )
    relay = ServerProcess(
        [str(venv / "bin" / "clientora-relay"), "serve"], env, tmp_path / "relay.log", "/readyz"
    )
    relay.start()
    try:
        privacy = httpx.get(f"{relay.url}/privacy")
        assert privacy.status_code == 200
        assert "Wheel Test Ltd" in privacy.text
        account = sign_up(relay.url)
        channel = account.connect(platform="webchat", name="Site")["id"]
        page = httpx.get(f"{relay.url}/webchat/{channel}")
        assert page.status_code == 200
        for asset in ("chat.css", "chat.js"):
            assert httpx.get(f"{relay.url}/webchat/assets/{asset}").status_code == 200
    finally:
        relay.stop()
