"""PySide6 on CPython 3.11 must not leak references to None (PITFALLS.md: 6.12 aborts)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel


def test_void_calls_do_not_drop_references_to_none(qapp: QApplication) -> None:
    """100,000 PySide6 calls returning nothing leave sys.getrefcount(None) where it was."""
    timer = QTimer()
    widget = QLabel()
    holder = QObject()
    before = sys.getrefcount(None)
    for _ in range(25_000):
        timer.stop()  # void
        widget.setText("x")  # void
        holder.setObjectName("y")  # void
        widget.update()  # void
    after = sys.getrefcount(None)
    # A small rise is harmless (caches); a fall means each void call loses a reference,
    # which ends in "Fatal Python error: none_dealloc" once the count reaches zero.
    assert after >= before - 100, (before, after)
