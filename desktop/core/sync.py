"""The event sync: keeps the local store in step with the relay's event stream.

One loop per signed-in device: connect with the committed cursor, apply events in
batches (each batch one transaction), acknowledge cumulatively only after the commit,
answer and send heartbeats, and reconnect with jittered exponential backoff when the
connection drops. Close codes decide what happens next: 4401 (session ended) and 4409
(session revoked) stop with ``signed_out``; 4403 (device unknown) stops with
``device_unknown``; everything else is retried. State changes go out on the store's
change feed as :class:`~desktop.core.store.SyncStatusChanged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from common.protocol import Ack, EventFrame, Ping, Pong, Welcome
from desktop.core.relay_client import (
    Backoff,
    RelayClient,
    RelayError,
    SignInRequired,
    StreamClosed,
    StreamConnection,
    UnreadableEvent,
)
from desktop.core.store import SkippedEvent, Store, SyncStatusChanged

__all__ = ["EventSync", "Heartbeat", "StreamCursor", "SyncState", "wait_for_status"]

log = logging.getLogger(__name__)

SyncState = Literal[
    "stopped", "connecting", "catching_up", "live", "offline", "signed_out", "device_unknown"
]
#: A connection that lasted this long resets the backoff when it ends.
STABLE_AFTER_S: Final = 10.0


@dataclass(slots=True)
class StreamCursor:
    """What is committed and what the relay was told, for one connection (no I/O)."""

    committed: int
    acked: int
    head: int = 0

    @classmethod
    def start(cls, committed: int, welcome: Welcome) -> StreamCursor:
        """Bookkeeping after the Welcome. A head behind our cursor means the relay's log
        was reset: the cursor follows it back, or the new log's events would be skipped."""
        cursor = min(committed, welcome.head)
        return cls(committed=cursor, acked=cursor, head=welcome.head)

    def on_committed(self, seq: int) -> int | None:
        """A batch up to ``seq`` is committed: the ack to send, or None if nothing new."""
        self.committed = seq
        self.head = max(self.head, seq)
        if self.committed == self.acked:
            return None
        self.acked = self.committed
        return self.acked

    @property
    def caught_up(self) -> bool:
        return self.committed >= self.head


@dataclass(slots=True)
class Heartbeat:
    """When to ping and when to give a silent connection up (monotonic seconds, no I/O)."""

    interval_s: float
    silence_limit_s: float
    last_heard: float
    last_ping: float

    def heard(self, now: float) -> None:
        self.last_heard = now

    def action(self, now: float) -> Literal["ping", "dead"] | None:
        if now - self.last_heard > self.silence_limit_s:
            return "dead"
        if now - max(self.last_ping, self.last_heard) >= self.interval_s:
            self.last_ping = now
            return "ping"
        return None


class _Silent(Exception):
    """The relay stopped answering on an open connection."""


class EventSync:
    """Runs the stream for one device until stopped, signed out or the device is refused.

    ``start()`` runs it as a task; ``stop()`` ends it; ``reconnect_now()`` skips the
    current backoff wait (after ``client.base_url`` changed, or the network came back).
    """

    def __init__(
        self,
        store: Store,
        client: RelayClient,
        device_id: str,
        *,
        backoff: Backoff | None = None,
        ping_interval_s: float = 15.0,
        silence_limit_s: float = 45.0,
        batch_max: int = 256,
        refresh_channels: bool = True,
    ) -> None:
        self.store = store
        self.client = client
        self.device_id = device_id
        self.backoff = backoff or Backoff(initial_s=0.5, cap_s=30.0)
        self.ping_interval_s = ping_interval_s
        self.silence_limit_s = silence_limit_s
        self.batch_max = batch_max
        self.refresh_channels = refresh_channels
        self._status = SyncStatusChanged(state="stopped")
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[SyncStatusChanged] | None = None

    @property
    def status(self) -> SyncStatusChanged:
        return self._status

    def start(self) -> asyncio.Task[SyncStatusChanged]:
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.create_task(self.run(), name="clientora-sync")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reconnect_now(self) -> None:
        self._wake.set()

    def _set(
        self,
        state: SyncState,
        detail: str | None = None,
        *,
        retry_in_s: float | None = None,
        cursor: int | None = None,
        head: int | None = None,
    ) -> None:
        status = SyncStatusChanged(
            state=state,
            detail=detail,
            retry_in_s=retry_in_s,
            cursor=self._status.cursor if cursor is None else cursor,
            head=head,
        )
        if status != self._status:
            self._status = status
            self.store.changes.emit([status])

    async def run(self) -> SyncStatusChanged:
        """Sync until stopped (``stopped``) or until the user must act (``signed_out``,
        ``device_unknown``); returns the final status."""
        while not self._stop.is_set():
            self._set("connecting")
            # A reconnect_now() from here on cuts the wait after this attempt short.
            self._wake.clear()
            started = time.monotonic()
            try:
                await self._connection()
                continue  # stopped
            except SignInRequired as exc:
                self._set("signed_out", exc.message)
                return self._status
            except StreamClosed as exc:
                if exc.sign_in_required:
                    self._set("signed_out", exc.reason or "The session ended; sign in again.")
                    return self._status
                if exc.device_unknown:
                    self._set(
                        "device_unknown",
                        exc.reason or "This computer is not registered with the business.",
                    )
                    return self._status
                detail = f"The relay closed the connection ({exc.code}): {exc.reason}"
            except RelayError as exc:
                detail = exc.message
            except _Silent:
                detail = "The relay stopped answering."
            except Exception as exc:  # a local failure (disk full...): retry, loudly
                log.exception("sync failed")
                detail = f"Sync failed: {type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            if time.monotonic() - started >= STABLE_AFTER_S:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self._set("offline", detail, retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        self._set("stopped")
        return self._status

    async def _connection(self) -> None:
        """One connection, from Hello to its end; returns only when stopped."""
        committed = await self.store.cursor()
        stream = await self.client.open_stream(self.device_id, committed)
        try:
            welcome = stream.welcome
            cursor = StreamCursor.start(committed, welcome)
            if cursor.committed < committed:
                log.warning(
                    "relay log is behind our cursor; following it back",
                    extra={"cursor": committed, "head": welcome.head},
                )
                await self.store.reset_cursor(cursor.committed)
            self._set(
                "live" if cursor.caught_up else "catching_up",
                cursor=cursor.committed,
                head=cursor.head,
            )
            if self.refresh_channels:
                await self._refresh_channels()
            await self._serve(stream, cursor)
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    async def _refresh_channels(self) -> None:
        # Connect events older than the relay's retention are gone: take its list too.
        try:
            await self.store.replace_channels(await self.client.channels())
        except RelayError as exc:
            log.warning("channel list not refreshed: %s", exc.message)

    async def _serve(self, stream: StreamConnection, cursor: StreamCursor) -> None:
        queue: asyncio.Queue[EventFrame | UnreadableEvent] = asyncio.Queue()
        now = time.monotonic()
        beat = Heartbeat(self.ping_interval_s, self.silence_limit_s, now, now)
        tasks = [
            asyncio.create_task(self._read(stream, queue, beat)),
            asyncio.create_task(self._apply(stream, queue, cursor)),
            asyncio.create_task(self._heartbeat(stream, beat)),
            asyncio.create_task(self._stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _read(
        self,
        stream: StreamConnection,
        queue: asyncio.Queue[EventFrame | UnreadableEvent],
        beat: Heartbeat,
    ) -> None:
        while True:
            frame = await stream.recv()
            beat.heard(time.monotonic())
            if isinstance(frame, EventFrame | UnreadableEvent):
                queue.put_nowait(frame)
            elif isinstance(frame, Ping):
                await stream.send(Pong(nonce=frame.nonce))

    async def _apply(
        self,
        stream: StreamConnection,
        queue: asyncio.Queue[EventFrame | UnreadableEvent],
        cursor: StreamCursor,
    ) -> None:
        while True:
            frames = [await queue.get()]
            while len(frames) < self.batch_max and not queue.empty():
                frames.append(queue.get_nowait())
            batch = [
                SkippedEvent(seq=f.seq, id=f.id, error=f.error)
                if isinstance(f, UnreadableEvent)
                else f
                for f in frames
            ]
            # Shielded: once a batch is handed to the store it commits and its changes
            # are announced even if this connection is being torn down meanwhile.
            result = await asyncio.shield(self.store.apply_events(batch))
            ack = cursor.on_committed(result.cursor)
            if ack is not None:
                await stream.send(Ack(seq=ack))
            if not cursor.caught_up:
                self._set("catching_up", cursor=cursor.committed, head=cursor.head)
            elif self._status.state != "live":
                self._set("live", cursor=cursor.committed)

    async def _heartbeat(self, stream: StreamConnection, beat: Heartbeat) -> None:
        nonce = 0
        tick = min(1.0, self.ping_interval_s / 2)
        while True:
            await asyncio.sleep(tick)
            action = beat.action(time.monotonic())
            if action == "dead":
                raise _Silent
            if action == "ping":
                nonce += 1
                await stream.send(Ping(nonce=nonce))


async def wait_for_status(
    sync: EventSync,
    predicate: Callable[[SyncStatusChanged], bool],
    timeout_s: float,
) -> SyncStatusChanged:
    """Wait until the sync's status satisfies ``predicate`` (raises TimeoutError)."""
    if predicate(sync.status):
        return sync.status
    loop = asyncio.get_running_loop()
    found: asyncio.Future[SyncStatusChanged] = loop.create_future()

    def listener(changes: object) -> None:
        if not found.done() and predicate(sync.status):
            found.set_result(sync.status)

    unsubscribe = sync.store.changes.subscribe(listener)
    try:
        waiter: Awaitable[SyncStatusChanged] = found
        return await asyncio.wait_for(waiter, timeout_s)
    finally:
        unsubscribe()
