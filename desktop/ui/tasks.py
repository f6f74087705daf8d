"""Background work for the UI: tasks kept by reference, "latest wins", errors as plain words.

Slots stay synchronous and thin: they hand a coroutine to a :class:`TaskKeeper`, which
keeps the task alive until it ends (asyncio holds only weak references), cancels the
previous task of the same key (a newer search makes an older one pointless), and turns
an exception into one sentence on its ``failed`` signal instead of a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from desktop.ui.text import plain_error

__all__ = ["TaskKeeper"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskKeeper(QObject):
    """Runs coroutines on the running (qasync) loop and reports how they ended."""

    #: A task failed; the argument is a sentence for the owner.
    failed = Signal(str)
    #: How many tasks are running changed (for a busy indicator).
    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keyed: dict[str, asyncio.Task[Any]] = {}
        self._closed = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        key: str | None = None,
        done: Callable[[T], None] | None = None,
        error: Callable[[str], None] | None = None,
    ) -> asyncio.Task[T]:
        """Start ``coro``; ``done`` gets its result, ``error`` (else ``failed``) its error.

        With a ``key``, a task started earlier under the same key is cancelled first.
        """
        if self._closed:
            coro.close()
            raise RuntimeError("the task keeper is closed")
        if key is not None and (previous := self._keyed.get(key)) is not None:
            previous.cancel()
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        if key is not None:
            self._keyed[key] = task
        self.busy_changed.emit(len(self._tasks))

        def finished(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            if key is not None and self._keyed.get(key) is t:
                del self._keyed[key]
            if not self._closed:
                self.busy_changed.emit(len(self._tasks))
            if t.cancelled() or self._closed:
                return
            exc = t.exception()
            if exc is not None:
                words = plain_error(exc)
                # Errors that carry words for people are expected (a refused password):
                # no traceback in the log for those; anything else keeps its traceback.
                expected = isinstance(getattr(exc, "message", None), str)
                log.info("task failed: %s", words, exc_info=None if expected else exc)
                if error is not None:
                    error(words)
                else:
                    self.failed.emit(words)
                return
            if done is not None:
                try:
                    done(t.result())
                except Exception as callback_error:
                    log.exception("task result handler failed")
                    self.failed.emit(plain_error(callback_error))

        task.add_done_callback(finished)
        return task

    def cancel(self, key: str) -> None:
        """Cancel the task started under ``key`` (if it still runs)."""
        task = self._keyed.get(key)
        if task is not None:
            task.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) for the running tasks to finish on their own."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def close(self) -> None:
        """Cancel everything still running and wait for it to end."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
