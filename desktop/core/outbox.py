"""The outbox: replies are stored first, then sent exactly once, however long it takes.

``Outbox.send`` writes the reply to the store as ``queued`` with a fresh idempotency key
and returns at once; a background task sends queued replies in order. When the relay
cannot be reached, or answers "try later" (5xx, ``rate_limited``, a send with this key
still in progress), the reply stays queued with the reason shown and the task retries
with jittered backoff, reusing the key so the relay never sends it twice. A permanent
refusal (``window_closed``, ``too_long``, ``token_invalid``, ``already_replied``...)
marks the message failed with the relay's plain-words message; it is never retried on its
own (``Outbox.retry`` queues it again under a new key when the owner asks).

One reply never holds up the others. A failure of the relay itself (unreachable, 5xx,
``rate_limited``, signed out) ends the pass, as every other reply would meet it too. A
failure of one reply does not: a ``platform_error`` being retried holds only the later
replies of its own conversation (so a customer still reads them in order), and a reply
whose first attempt the relay still holds "in progress" (a relay that crashed mid-send
holds it until the claim's lease runs out) holds nothing: later replies, in its
conversation too, go out, since waiting minutes on a reply that may already have arrived
helps no one. When the lease runs out the relay answers ``outcome_unknown``; the reply is
marked failed with those words and never retried on its own: the owner checks the
conversation and retries it (a new key) or leaves it.

Decisions: a ``platform_error`` (the platform failed after the relay's own retries) is
retried a few times, then marked failed, because the relay answers a permanent and a
transient platform failure with the same code. A 401 keeps replies queued and pauses the
outbox until :meth:`Outbox.resume` (after the owner signs in again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Final, Literal

from common.protocol import SendReply
from desktop.core.relay_client import (
    Backoff,
    RelayClient,
    RelayError,
    RelayUnreachable,
    SignInRequired,
)
from desktop.core.store import (
    Change,
    Message,
    OutboxItem,
    Store,
    SyncStatusChanged,
    now_ms,
)

__all__ = ["Outbox", "OutboxState", "Scope", "Verdict", "classify", "new_idempotency_key", "scope"]

log = logging.getLogger(__name__)

Verdict = Literal["retry", "retry_limited", "fail", "sign_in"]
#: What a retried failure holds back: the rest of the pass, its conversation, or itself.
Scope = Literal["relay", "conversation", "message"]
OutboxState = Literal["stopped", "idle", "sending", "waiting", "signed_out"]
#: How many times a ``platform_error`` is tried before the message is marked failed.
PLATFORM_ERROR_ATTEMPTS: Final = 5


def new_idempotency_key() -> str:
    return f"clientora-{uuid.uuid4().hex}"


def classify(error: RelayError) -> Verdict:
    """What to do about a failed send: retry as-is, retry a few times, fail, or sign in."""
    if isinstance(error, SignInRequired):
        return "sign_in"
    if isinstance(error, RelayUnreachable):
        return "retry"
    if error.code == "rate_limited":
        return "retry"
    if error.code == "idempotency_conflict":
        # With retry_after: the first request with this key is still in flight.
        # Without: the key was used for another text, which no retry can fix.
        return "retry" if error.retry_after_s is not None else "fail"
    if error.code == "platform_error":
        return "retry_limited"
    if error.code == "quota_exceeded":
        return "fail"
    if error.status is not None and error.status >= 500:
        return "retry"
    return "fail"


def scope(error: RelayError) -> Scope:
    """Which later replies a retried failure holds back (see the module's docstring)."""
    if error.code == "idempotency_conflict":
        return "message"
    if error.code == "platform_error":
        return "conversation"
    return "relay"


class Outbox:
    """Sends queued replies through the relay, in order, each exactly once."""

    def __init__(
        self,
        store: Store,
        client: RelayClient,
        *,
        backoff: Backoff | None = None,
        platform_error_attempts: int = PLATFORM_ERROR_ATTEMPTS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.client = client
        self.backoff = backoff or Backoff(initial_s=1.0, cap_s=60.0)
        self.platform_error_attempts = platform_error_attempts
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state: OutboxState = "stopped"
        self._signed_out = False
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def state(self) -> OutboxState:
        return "signed_out" if self._signed_out else self._state

    # ---- what the UI and the autopilot call -------------------------------------------

    async def send(
        self,
        conversation_id: int,
        text: str,
        *,
        draft_id: int | None = None,
        automatic: bool = False,
        reply_to: str | None = None,
        in_reply_to_id: int | None = None,
    ) -> Message:
        """Queue a reply and return its stored message (status ``queued``).

        ``draft_id``: the draft being approved (it becomes ``approved``, then ``sent``);
        without it, a reply that is not ``automatic`` was written by hand and pauses the
        assistant in the conversation. ``reply_to``: platform id of a message to quote.
        ``in_reply_to_id``: the inbound message answered (defaults to the draft's).
        """
        if in_reply_to_id is None and draft_id is not None:
            draft = await self.store.draft(draft_id)
            in_reply_to_id = draft.for_message_id if draft is not None else None
        message = await self.store.queue_outbound(
            conversation_id,
            text,
            idempotency_key=new_idempotency_key(),
            author="assistant" if automatic else "owner",
            automatic=automatic,
            draft_id=draft_id,
            reply_to=reply_to,
            in_reply_to_id=in_reply_to_id,
        )
        self.wake()
        return message

    async def retry(self, message_id: int) -> None:
        """Queue a failed message again (under a new key) because the owner asked."""
        await self.store.requeue(message_id, new_idempotency_key())
        self.wake()

    def wake(self) -> None:
        """Try the queue now instead of waiting out the backoff."""
        self._wake.set()

    def resume(self) -> None:
        """Continue after the owner signed in again (the client has the new token)."""
        self._signed_out = False
        self.wake()

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            # The relay being reachable again (the stream connected) is the best moment.
            self._unsubscribe = self.store.changes.subscribe(self._on_changes)
            self._task = asyncio.create_task(self._run(), name="clientora-outbox")
        return self._task

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._state = "stopped"

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, SyncStatusChanged) and change.state in ("live", "catching_up"):
                self.wake()

    # ---- the worker ------------------------------------------------------------------

    async def _run(self) -> None:
        self._state = "idle"
        while True:
            self._wake.clear()
            if self._signed_out:
                await self._wake.wait()
                continue
            items = await self.store.outbox(limit=50)
            if not items:
                self._state = "idle"
                await self._wake.wait()
                continue
            self._state = "sending"
            delay: float | None = None
            held: set[int] = set()  # conversations whose earlier reply is being retried
            for item in items:
                if item.message.conversation_id in held:
                    continue
                waited = await self._send_one(item)
                if waited is None:
                    continue
                wait_s, held_by = waited
                delay = wait_s if delay is None else min(delay, wait_s)
                if held_by == "relay":
                    break
                if held_by == "conversation":
                    held.add(item.message.conversation_id)
            if delay is None:
                self.backoff.reset()
                continue
            if self.state == "signed_out":
                continue  # until resume()
            self._state = "waiting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _send_one(self, item: OutboxItem) -> tuple[float, Scope] | None:
        """Try one message; None when settled, else how long to wait before trying it
        again and what it holds back meanwhile."""
        message = item.message
        if not await self.store.mark_sending(message.id):
            return None  # the stream settled it meanwhile
        reply = SendReply(
            channel_id=item.channel_id,
            recipient_id=item.recipient_id,
            text=message.text or "",
            idempotency_key=message.idempotency_key or new_idempotency_key(),
            automatic=message.automatic,
            reply_to=message.reply_to,
            in_reply_to=item.in_reply_to,
            device_id=message.device_id,
        )
        try:
            result = await self.client.send_reply(reply)
        except RelayError as error:
            return await self._failed(message, error)
        # Shielded: what the relay did is written down even if the outbox is being stopped.
        await asyncio.shield(
            self.store.record_sent(
                message.id,
                send_id=result.send_id,
                platform_message_id=result.platform_message_id,
                tag=result.tag,
            )
        )
        return None

    async def _failed(self, message: Message, error: RelayError) -> tuple[float, Scope] | None:
        verdict = classify(error)
        if verdict == "retry_limited" and message.attempts + 1 >= self.platform_error_attempts:
            verdict = "fail"
        if verdict == "fail":
            log.info("send failed", extra={"message_id": message.id, "code": error.code})
            await asyncio.shield(
                self.store.record_failed(message.id, code=error.code, message=error.message)
            )
            return None
        delay = max(self.backoff.next_delay(), error.retry_after_s or 0.0)
        reason = error.message
        if verdict == "sign_in":
            self._signed_out = True
            reason = "Sign in again to send this reply."
        log.info(
            "send will be retried",
            extra={"message_id": message.id, "code": error.code, "delay_s": delay},
        )
        await self.store.record_retry(
            message.id,
            code=error.code,
            message=reason,
            next_attempt_ms=self._clock() + int(delay * 1000),
        )
        return delay, scope(error)
