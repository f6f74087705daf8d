"""``/v1/stream``: a device's WebSocket, replaying its business's log and then going live.

The log itself is the buffer: a connection reads pages of events after its cursor and
waits for a wake-up when it has caught up, so a slow client holds one page at most
and never slows another. It also never runs more than ``WINDOW`` events ahead of the
device's acknowledgements. Session logic is in :class:`StreamSession` (no I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from common.protocol import (
    Ack,
    CloseCode,
    Hello,
    Ping,
    Pong,
    Welcome,
    decode_client_frame,
    encode,
)
from relay.auth import authenticate, bearer_token
from relay.away import presence_stale_ms
from relay.errors import RelayError
from relay.metrics import EVENTS_DELIVERED
from relay.services import Services
from relay.store import StoredEvent

__all__ = ["WINDOW", "StreamSession", "event_frame", "stream"]

log = logging.getLogger("clientora.relay.stream")

#: Most events sent but not yet acknowledged on one connection.
WINDOW = 1024
HELLO_TIMEOUT_S = 10.0


def event_frame(row: StoredEvent) -> bytes:
    """The EventFrame JSON, spliced from the stored event bytes without re-encoding them."""
    return b'{"type":"event","seq":%d,"id":"%s","stored_at_ms":%d,"event":%s}' % (
        row.seq,
        row.id.encode(),
        row.stored_at_ms,
        row.payload,
    )


@dataclass(slots=True)
class StreamSession:
    """Cursor bookkeeping for one connection: what was sent, what was acknowledged.

    The window counts events, not the distance between sequence numbers: in SQLite they
    are shared by every business, so another shop's traffic must not use up this one's.
    """

    sent: int
    acked: int
    window: int = WINDOW
    unacked: deque[int] = field(default_factory=deque)

    def can_send(self) -> bool:
        return len(self.unacked) < self.window

    def budget(self) -> int:
        return max(0, self.window - len(self.unacked))

    def on_sent(self, seq: int) -> None:
        if seq > self.sent:
            self.sent = seq
            self.unacked.append(seq)

    def on_ack(self, seq: int) -> bool:
        """Apply a cumulative ack; acks beyond what was sent are clamped. True if it moved."""
        seq = min(seq, self.sent)
        if seq <= self.acked:
            return False
        self.acked = seq
        while self.unacked and self.unacked[0] <= seq:
            self.unacked.popleft()
        return True


class _Connection:
    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        services: Services,
        business_id: str,
        device_id: str,
        token_hash: str,
        cursor: int,
    ) -> None:
        self.socket = socket
        self.services = services
        self.business_id = business_id
        self.device_id = device_id
        self.token_hash = token_hash
        self.session = StreamSession(sent=cursor, acked=cursor)
        self.last_heard = time.monotonic()
        self.acked_wakeup = asyncio.Event()
        self.persisted = cursor

    async def send_frame(self, data: bytes) -> None:
        await self.socket.send_data(data.decode(), mode="text")

    async def reader(self) -> None:
        while True:
            raw = await self.socket.receive_data(mode="text")
            self.last_heard = time.monotonic()
            try:
                frame = decode_client_frame(raw)
            except msgspec.DecodeError as exc:
                raise _Close(CloseCode.BAD_FRAME, f"unreadable frame: {exc}") from None
            if isinstance(frame, Ack):
                if self.session.on_ack(frame.seq):
                    self.acked_wakeup.set()
                    await self.persist()
            elif isinstance(frame, Ping):
                await self.send_frame(encode(Pong(nonce=frame.nonce)))
            elif isinstance(frame, Hello):
                raise _Close(CloseCode.BAD_FRAME, "hello was already received")

    async def persist(self) -> None:
        if self.session.acked > self.persisted:
            self.persisted = self.session.acked
            await self.services.store.advance_cursor(
                self.business_id, self.device_id, self.persisted
            )

    async def sender(self) -> None:
        settings = self.services.settings
        wakeups = self.services.wakeups
        store = self.services.store
        while True:
            if not self.session.can_send():
                self.acked_wakeup.clear()
                await self._wait(self.acked_wakeup.wait())
                continue
            waiter = wakeups.register(self.business_id)
            rows = await store.events_after(
                self.business_id,
                self.session.sent,
                min(settings.stream_page, self.session.budget()),
            )
            if rows:
                wakeups.discard(self.business_id, waiter)
                for row in rows:
                    await self.send_frame(event_frame(row))
                    self.session.on_sent(row.seq)
                EVENTS_DELIVERED.inc(len(rows))
                continue
            await self._wait(asyncio.shield(waiter))
            wakeups.discard(self.business_id, waiter)

    async def _wait(self, awaitable: object) -> None:
        """Wait for news, pinging and checking liveness and the session while idle."""
        settings = self.services.settings
        try:
            await asyncio.wait_for(awaitable, timeout=settings.heartbeat_s)  # type: ignore[arg-type]
        except TimeoutError:
            if time.monotonic() - self.last_heard > settings.heartbeat_timeout_s:
                raise _Close(
                    CloseCode.HEARTBEAT_TIMEOUT, "no frame from the device in time"
                ) from None
            if await self.services.store.session(self.token_hash, _now_ms()) is None:
                raise _Close(
                    CloseCode.SESSION_REVOKED, "the session ended; sign in again"
                ) from None
            await self.send_frame(encode(Ping(nonce=int(time.time()))))


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@websocket("/v1/stream")
async def stream(socket: WebSocket[Any, Any, Any], services: NamedDependency[Services]) -> None:
    await socket.accept()
    try:
        try:
            principal = await authenticate(services, bearer_token(socket))
        except RelayError as exc:
            raise _Close(CloseCode.UNAUTHORIZED, exc.message) from None
        try:
            raw = await asyncio.wait_for(socket.receive_data(mode="text"), HELLO_TIMEOUT_S)
            hello = decode_client_frame(raw)
        except TimeoutError:
            raise _Close(CloseCode.BAD_FRAME, "expected a hello frame first") from None
        except msgspec.DecodeError as exc:
            raise _Close(CloseCode.BAD_FRAME, f"unreadable hello frame: {exc}") from None
        if not isinstance(hello, Hello):
            raise _Close(CloseCode.BAD_FRAME, "expected a hello frame first")
        device = await services.store.device(principal.business_id, hello.device_id)
        if device is None:
            raise _Close(CloseCode.FORBIDDEN, "this device is not registered to the business")
        head = await services.store.head(principal.business_id)
        cursor = max(0, min(hello.cursor, head))
        conn = _Connection(
            socket, services, principal.business_id, device.id, principal.token_hash, cursor
        )
        # Present before the welcome: a message the device could miss is not answered
        # as if the shop were away.
        now = _now_ms()
        await services.store.device_connected(
            principal.business_id, device.id, now, now - presence_stale_ms(services)
        )
        try:
            await conn.send_frame(
                encode(Welcome(business_id=principal.business_id, device_id=device.id, head=head))
            )
            await _run(conn)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(services.store.device_disconnected(device.id, _now_ms()))
    except _Close as close:
        log.info("stream closed", extra={"code": close.code, "reason": close.reason})
        with contextlib.suppress(Exception):
            await socket.close(code=close.code, reason=close.reason)
    except WebSocketDisconnect:
        pass


async def _present(conn: _Connection) -> None:
    """Keep the device marked present in the store, for every relay process's away check."""
    store = conn.services.store
    while True:
        await asyncio.sleep(conn.services.settings.heartbeat_s)
        await store.device_seen(conn.device_id, _now_ms())


async def _run(conn: _Connection) -> None:
    reader = asyncio.create_task(conn.reader())
    sender = asyncio.create_task(conn.sender())
    present = asyncio.create_task(_present(conn))
    try:
        done, _ = await asyncio.wait({reader, sender, present}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
    finally:
        for task in (reader, sender, present):
            task.cancel()
        await asyncio.gather(reader, sender, present, return_exceptions=True)
        with contextlib.suppress(Exception):
            await conn.persist()
