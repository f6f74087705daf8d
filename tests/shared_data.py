"""Where the shared, read-only test data lies: ``../shared`` beside the checkout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DATA", "FIXTURES", "load_fixture"]

SHARED = Path(__file__).resolve().parents[2] / "shared"
#: Real platform payloads written by others (never copied into the repository).
FIXTURES = SHARED / "fixtures"
#: Knowledge-base evaluation data.
DATA = SHARED / "data"


def load_fixture(name: str) -> Any:
    """A shared platform payload, parsed (integers stay exact)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
