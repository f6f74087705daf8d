"""The outbox against a real relay: store first, send exactly once, fail plainly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.protocol import SendReply
from desktop.core.outbox import Outbox, classify
from desktop.core.relay_client import (
    Backoff,
    RelayError,
    RelayRefused,
    RelayUnreachable,
    SignInRequired,
)
from desktop.core.store import Conversation, Message, NewDraft
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text
from tests.test_desktop_sync import PAGE, Desk, desk, eventually, now_ms, post, relay_on

DAY_MS = 24 * 3_600_000


def sends(graph: FakeGraph) -> int:
    return len([r for r in graph.requests if r.path.endswith("/messages")])


@contextlib.asynccontextmanager
async def desk_with_outbox(base_url: str, folder: Path) -> AsyncIterator[tuple[Desk, Outbox]]:
    async with desk(base_url, folder) as d:
        outbox = Outbox(d.store, d.client, backoff=Backoff(initial_s=0.05, cap_s=0.5))
        try:
            yield d, outbox
        finally:
            await outbox.stop()


async def inbound(
    d: Desk, base_url: str, text: str = "A keni byrek?", ts: int | None = None, mid: str = "mid.in"
) -> Conversation:
    """Post a customer message and wait until the desktop has it."""
    await post(base_url, messenger_text(PAGE, "U1", mid, text, ts or now_ms()))

    async def arrived() -> Conversation | None:
        for conversation in await d.store.list_conversations():
            messages = await d.store.messages(conversation.id)
            if any(m.platform_id == mid for m in messages):
                return conversation
        return None

    return await eventually(arrived)


async def settled(d: Desk, message_id: int, *statuses: str) -> Message:
    async def probe() -> Message | None:
        message = await d.store.message(message_id)
        return message if message is not None and message.status in statuses else None

    return await eventually(probe)


async def outbound(d: Desk, conversation_id: int) -> list[Message]:
    return [m for m in await d.store.messages(conversation_id) if m.direction == "out"]


async def test_approved_draft_goes_out_once(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """Approving a draft sends it once; the stream's MessageSent settles the same row."""
    async with desk_with_outbox(relay.url, tmp_path) as (d, outbox):
        d.sync.start()
        outbox.start()
        conversation = await inbound(d, relay.url)
        (question,) = await d.store.messages(conversation.id)
        draft = await d.store.add_draft(
            NewDraft(
                conversation_id=conversation.id,
                for_message_id=question.id,
                text="Po, kemi byrek me spinaq.",
                drafter="extractive",
                confidence=0.8,
            )
        )
        queued = await outbox.send(conversation.id, draft.text, draft_id=draft.id)
        assert queued.status == "queued" and queued.idempotency_key
        sent = await settled(d, queued.id, "sent")
        assert sent.platform_id and sent.send_id and sent.in_reply_to_id == question.id
        assert (await d.store.draft(draft.id)).state == "sent"  # type: ignore[union-attr]
        # A later event proves the stream has passed our MessageSent.
        await inbound(d, relay.url, "Faleminderit", mid="mid.thanks")
        (only,) = await outbound(d, conversation.id)
        assert only.id == queued.id and only.device_id == d.device_id
        assert sends(fake_graph[0]) == 1
        after = await d.store.conversation(conversation.id)
        assert after is not None and not after.assistant_paused


async def test_reply_queued_while_relay_down_goes_out_once_it_returns(
    tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """A reply made while the relay is down waits queued, then is sent exactly once."""
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(relay_on(tmp_path, fake_graph[1]))
        async with desk_with_outbox(first.url, tmp_path) as (d, outbox):
            d.sync.start()
            outbox.start()
            conversation = await inbound(d, first.url)
            await asyncio.to_thread(first.stop)
            queued = await outbox.send(conversation.id, "Po, deri në ora 14.")

            async def waiting() -> Message | None:
                message = await d.store.message(queued.id)
                return message if message is not None and message.attempts >= 2 else None

            pending = await eventually(waiting)
            assert pending.status == "queued" and pending.error_message
            assert sends(fake_graph[0]) == 0

            second = stack.enter_context(relay_on(tmp_path, fake_graph[1]))
            d.client.base_url = second.url
            d.sync.reconnect_now()
            sent = await settled(d, queued.id, "sent")
            assert sent.error_code is None and sent.idempotency_key == queued.idempotency_key
            await inbound(d, second.url, "Faleminderit", mid="mid.thanks")
            assert [m.id for m in await outbound(d, conversation.id)] == [queued.id]
            assert sends(fake_graph[0]) == 1


async def test_interrupted_send_is_retried_with_its_key_and_not_repeated(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """A send the relay did but whose answer was lost is retried with the same key: no repeat."""
    async with desk_with_outbox(relay.url, tmp_path) as (d, outbox):
        d.sync.start()
        conversation = await inbound(d, relay.url)
        queued = await outbox.send(conversation.id, "Yes, we have.")
        # What a worker that crashed after posting would have left behind.
        assert await d.store.mark_sending(queued.id)
        (item,) = await d.store.outbox()
        await d.client.send_reply(
            SendReply(
                channel_id=item.channel_id,
                recipient_id=item.recipient_id,
                text="Yes, we have.",
                idempotency_key=queued.idempotency_key or "",
                device_id=d.device_id,
            )
        )
        outbox.start()
        sent = await settled(d, queued.id, "sent", "delivered", "read")
        assert sent.send_id
        await inbound(d, relay.url, "ok", mid="mid.ok")
        assert [m.id for m in await outbound(d, conversation.id)] == [queued.id]
        assert sends(fake_graph[0]) == 1


async def test_permanent_refusal_is_shown_and_not_retried(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """A closed window marks the reply failed with the relay's words; nothing is retried."""
    async with desk_with_outbox(relay.url, tmp_path) as (d, outbox):
        d.sync.start()
        outbox.start()
        conversation = await inbound(d, relay.url, ts=now_ms() - 9 * DAY_MS)
        queued = await outbox.send(conversation.id, "Sorry for the late answer")
        failed = await settled(d, queued.id, "failed")
        assert failed.error_code == "window_closed"
        assert failed.error_message and "customer has to write again" in failed.error_message
        assert failed.text == "Sorry for the late answer"
        await inbound(d, relay.url, "still there?", ts=now_ms() - 9 * DAY_MS + 1, mid="mid.2")
        (only,) = await outbound(d, conversation.id)
        assert only.id == queued.id and only.status == "failed"
        assert await d.store.outbox() == []
        assert sends(fake_graph[0]) == 0
        assert outbox.state == "idle"


async def test_platform_failure_is_retried_until_sent(
    tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """When the platform fails transiently, the reply stays queued and goes out on a retry."""
    graph, graph_server = fake_graph
    with relay_on(tmp_path, graph_server, send_attempts=1) as served:
        async with desk_with_outbox(served.url, tmp_path) as (d, outbox):
            d.sync.start()
            conversation = await inbound(d, served.url)
            graph.fail_next(times=2, status=500)
            outbox.start()
            queued = await outbox.send(conversation.id, "Po")
            sent = await settled(d, queued.id, "sent")
            assert sent.attempts == 2 and sent.error_code is None
            assert sends(graph) == 3


async def test_signed_out_outbox_keeps_replies_until_resumed(
    relay: ServedApp, tmp_path: Path, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """A 401 keeps the reply queued and pauses the outbox until the owner signs in again."""
    async with desk_with_outbox(relay.url, tmp_path) as (d, outbox):
        d.sync.start()
        conversation = await inbound(d, relay.url)
        token = d.client.token
        d.client.token = "expired-token-0123456789"
        outbox.start()
        queued = await outbox.send(conversation.id, "Po")

        async def signed_out() -> bool:
            return outbox.state == "signed_out"

        await eventually(signed_out)
        waiting = await d.store.message(queued.id)
        assert waiting is not None and waiting.status == "queued"
        assert waiting.error_message == "Sign in again to send this reply."
        d.client.token = token
        outbox.resume()
        await settled(d, queued.id, "sent")
        assert sends(fake_graph[0]) == 1


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (RelayUnreachable("unreachable", "down"), "retry"),
        (RelayRefused("internal", "oops", status=500), "retry"),
        (RelayRefused("rate_limited", "slow down", status=429, retry_after_s=3), "retry"),
        (RelayRefused("idempotency_conflict", "in progress", status=409, retry_after_s=1), "retry"),
        (RelayRefused("idempotency_conflict", "other text", status=409), "fail"),
        (RelayRefused("platform_error", "Meta failed", status=502), "retry_limited"),
        (RelayRefused("quota_exceeded", "limit", status=429), "fail"),
        (RelayRefused("window_closed", "closed", status=422), "fail"),
        (RelayRefused("token_invalid", "reconnect", status=424), "fail"),
        (RelayRefused("already_replied", "once", status=409), "fail"),
        (RelayRefused("too_long", "long", status=422), "fail"),
        (SignInRequired("unauthorized", "sign in", status=401), "sign_in"),
    ],
)
def test_send_errors_are_classified(error: RelayError, verdict: Any) -> None:
    """Transient answers are retried, permanent ones fail, a 401 waits for sign-in."""
    assert classify(error) == verdict
