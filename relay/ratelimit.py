"""A small in-memory sliding-window limiter (per process; enough for abuse control)."""

from __future__ import annotations

import time
from collections import deque

__all__ = ["VisitorLimiter"]


class VisitorLimiter:
    """At most ``limit`` messages per visitor (and per address) in a sliding minute."""

    def __init__(self, limit: int = 12, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self._seen) > 100_000:  # a flood of fresh ids must not grow memory forever
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] <= self.window_s}
        return True
