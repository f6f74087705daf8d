"""The relay's long-lived parts, built once per app and handed to handlers by injection."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from relay.activity import ChannelActivity
from relay.crypto import Keyring, PasswordHasher
from relay.directory import ChannelDirectory
from relay.errors import RelayError
from relay.plans import Plan
from relay.ratelimit import VisitorLimiter
from relay.send import PlatformUrls
from relay.settings import Settings
from relay.store import ChannelRow, Store

__all__ = ["Services", "Wakeups", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Wakeups:
    """Wakes the stream connections of a business when its log grows.

    A connection registers a future *before* it reads the log, so an append that
    lands between the read and the wait still wakes it.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        #: The process is draining (shutting down): long-lived streams end.
        self.closed = False

    def close(self) -> None:
        """Drain: wake every waiting stream; each sees ``closed`` and ends."""
        self.closed = True
        self.notify(set(self._waiters))

    def register(self, business_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(business_id, set()).add(future)
        return future

    def discard(self, business_id: str, future: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(business_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[business_id]

    def notify(self, business_ids: set[str]) -> None:
        for business_id in business_ids:
            for future in self._waiters.pop(business_id, ()):
                if not future.done():
                    future.set_result(None)


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    keyring: Keyring
    hasher: PasswordHasher
    directory: ChannelDirectory
    http: httpx.AsyncClient
    urls: PlatformUrls
    plans: dict[str, Plan] = field(default_factory=dict)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    wakeups: Wakeups = field(default_factory=Wakeups)
    webchat_limiter: VisitorLimiter = field(default_factory=VisitorLimiter)
    #: Each channel's last event and send, noted in memory (relay/health.py saves them).
    activity: ChannelActivity = field(default_factory=ChannelActivity)
    #: Channels whose away switch is on, so the many messages of the others cost no
    #: away check (reloaded with the directory; the away sweep reads the database).
    away_on: set[str] = field(default_factory=set)
    #: Work started after a request's answer (away replies), awaited on shutdown.
    background: set[asyncio.Task[None]] = field(default_factory=set)

    async def owned_channel(self, business_id: str, channel_id: str) -> ChannelRow:
        """The business's channel, else a 404 for the request."""
        row = await self.store.channel(business_id, channel_id)
        if row is None:
            raise RelayError(404, "unknown_channel", "No such channel in this business.")
        return row
