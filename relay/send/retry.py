"""Retrying transient send failures with capped exponential backoff and full jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from relay.send.errors import SendError

__all__ = ["Sleep", "backoff_delay", "retry_transient"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_log: Final = logging.getLogger(__name__)
# Jitter spreads retries out; it needs no unpredictability, so a shared PRNG is fine.
_random: Final = random.Random()  # noqa: S311


def backoff_delay(
    retry: int,
    *,
    base_delay_s: float,
    max_delay_s: float,
    retry_after_s: float | None = None,
    rng: random.Random = _random,
) -> float:
    """Seconds to wait before retry number ``retry`` (0-based).

    The platform's ``Retry-After`` wins when given, capped at ``max_delay_s``; otherwise
    "full jitter": uniform in [0, min(max_delay_s, base_delay_s * 2**retry)].
    """
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), max_delay_s)
    ceiling = min(max_delay_s, base_delay_s * 2.0 ** min(retry, 62))
    return rng.uniform(0.0, ceiling)


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay_s: float,
    max_delay_s: float,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``call()`` up to ``attempts`` times while it raises a transient SendError.

    A permanent SendError, or the last transient one, propagates unchanged.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    retry = 0
    while True:
        try:
            return await call()
        except SendError as err:
            if not err.transient or retry + 1 >= attempts:
                raise
            delay = backoff_delay(
                retry,
                base_delay_s=base_delay_s,
                max_delay_s=max_delay_s,
                retry_after_s=err.retry_after_s,
            )
            _log.info(
                "send failed (%s, platform code %s); retry %d of %d in %.2fs",
                err.code,
                err.platform_code,
                retry + 1,
                attempts - 1,
                delay,
            )
            retry += 1
            await sleep(delay)
