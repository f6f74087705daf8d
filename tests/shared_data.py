"""Where the shared, read-only test data lies: ``../shared`` beside the checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA", "FIXTURES"]

SHARED = Path(__file__).resolve().parents[2] / "shared"
#: Real platform payloads written by others (never copied into the repository).
FIXTURES = SHARED / "fixtures"
#: Knowledge-base evaluation data.
DATA = SHARED / "data"
