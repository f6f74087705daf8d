"""Ids and the wall clock, as every store query takes them."""

from __future__ import annotations

import time
import uuid

__all__ = ["new_id", "now_ms", "utc_day"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    return uuid.uuid4().hex


def utc_day(ms: int) -> str:
    """``YYYY-MM-DD`` of an instant in UTC: the day usage counters are kept under."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))
