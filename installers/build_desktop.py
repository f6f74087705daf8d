"""Build the desktop app as a program that needs no Python: ``python -m installers.build_desktop``.

Runs PyInstaller with ``installers/clientora.spec`` and writes, under ``--out``
(default ``dist/``): the one-folder app ``clientora/`` (run ``clientora/clientora``)
and ``clientora-<version>-linux-<arch>.tar.gz`` with a desktop entry and icon beside
the program. The same spec builds the Windows folder and the macOS ``Clientora.app``
on those systems (docs/packaging.md); this script's tarball is the Linux package.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

__all__ = ["build", "main", "tarball"]

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installers" / "clientora.spec"
NAME = "clientora"

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=Clientora
Comment=Answers your shop's customers
Exec=clientora
Icon=clientora
Terminal=false
Categories=Office;Network;
StartupWMClass=clientora
"""


def build(out: Path, work: Path) -> Path:
    """Run PyInstaller; returns the app's folder."""
    env = {**os.environ, "CLIENTORA_BUNDLE_NAME": NAME}
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={out}",
        f"--workpath={work}",
        str(SPEC),
    ]
    subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603 (a fixed command)
    folder = out / NAME
    shutil.copyfile(ROOT / "resources" / "icons" / "app.svg", folder / "clientora.svg")
    (folder / "clientora.desktop").write_text(DESKTOP_ENTRY, encoding="utf-8")
    return folder


def tarball(folder: Path, out: Path) -> Path:
    """``clientora-<version>-linux-<arch>.tar.gz`` of the folder (as ``clientora/``)."""
    version = importlib.metadata.version("clientora")
    path = out / f"{NAME}-{version}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=NAME)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m installers.build_desktop", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the results go")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work")
    parser.add_argument("--no-tarball", action="store_true", help="only the folder")
    args = parser.parse_args(argv)
    began = time.monotonic()
    folder = build(args.out.resolve(), args.work.resolve())
    print(f"app: {folder / NAME} ({time.monotonic() - began:.0f} s)")
    if not args.no_tarball:
        print(f"tarball: {tarball(folder, args.out.resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
