"""What a test needs from the machine (a program, a server, the shared corpus): without it
the test is skipped, except on CI, where everything must be there and it fails instead."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["tool", "unavailable"]


def unavailable(reason: str) -> NoReturn:
    """Skip the test, but fail it on CI, where what it needs must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def tool(name: str, install: str = "") -> str:
    """The path of the program ``name``; ``install`` says how to get it (``apt-get install
    caddy``)."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed" + (f" ({install})" if install else ""))
    return found
