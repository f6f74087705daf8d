"""Cancellation by an ``asyncio.Event``: stop waiting promptly, keep what is done."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["finished_before_cancel"]


async def finished_before_cancel(task: asyncio.Future[Any], cancel: asyncio.Event | None) -> bool:
    """Wait for ``task`` or for ``cancel`` to be set, whichever comes first.

    True when the task finished (its result or exception is ready); False when ``cancel``
    came first, in which case the task has been cancelled and awaited.
    """
    if cancel is None:
        await asyncio.wait({task})
        return True
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    if task.done():
        return True
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as forgotten
    return False
