"""The desktop's local store: every stream event kind, dedupe, queries, drafts and erasure."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from common.channels import STANDARD_WINDOW_MS, Platform
from common.events import (
    Attachment,
    ChannelChanged,
    Customer,
    CustomerErased,
    Event,
    MessageDeleted,
    MessageEcho,
    MessageEdited,
    MessageReceived,
    MessageSent,
    PlatformError,
    Postback,
    Reaction,
    SendFailed,
    Status,
    Subscription,
    UsageWarning,
)
from common.protocol import ChannelInfo, EventFrame
from desktop.core.store import (
    UNKNOWN_OUTCOME,
    Change,
    ChannelsChanged,
    ConversationChanged,
    ConversationQuery,
    ConversationRemoved,
    DraftNotPending,
    Message,
    MessageAdded,
    NewDraft,
    NotRequeueable,
    SkippedEvent,
    Store,
    WrongBusiness,
)

T0 = 1_750_000_000_000
DEVICE = "device-1"
_seq = itertools.count(1)


def frame(event: Event, event_id: str | None = None) -> EventFrame:
    seq = next(_seq)
    return EventFrame(seq=seq, id=event_id or f"ev-{seq}", stored_at_ms=T0, event=event)


def received(
    text: str,
    mid: str,
    *,
    customer: str = "U1",
    name: str | None = "Arta Krasniqi",
    channel: str = "CH1",
    ts: int = T0,
    platform: Platform = "messenger",
) -> MessageReceived:
    return MessageReceived(
        channel_id=channel,
        platform=platform,
        customer=Customer(id=customer, name=name),
        timestamp_ms=ts,
        platform_id=mid,
        text=text,
    )


def sent(
    text: str,
    send_id: str,
    mid: str | None,
    *,
    device: str | None = "other",
    ts: int = T0 + 5,
    customer: str = "U1",
    automatic: bool = False,
    key: str | None = None,
) -> MessageSent:
    return MessageSent(
        channel_id="CH1",
        platform="messenger",
        customer=Customer(id=customer),
        timestamp_ms=ts,
        platform_id=mid,
        text=text,
        send_id=send_id,
        idempotency_key=key,
        device_id=device,
        automatic=automatic,
    )


def send_failed(
    send_id: str,
    error: str,
    message: str,
    *,
    key: str | None = None,
    device: str | None = DEVICE,
    ts: int = T0 + 7,
) -> SendFailed:
    return SendFailed(
        channel_id="CH1",
        platform="messenger",
        customer=Customer(id="U1"),
        timestamp_ms=ts,
        send_id=send_id,
        idempotency_key=key,
        error=error,
        message=message,
        device_id=device,
    )


def echo(text: str, mid: str, *, ts: int = T0 + 10) -> MessageEcho:
    return MessageEcho(
        channel_id="CH1",
        platform="messenger",
        customer=Customer(id="U1"),
        timestamp_ms=ts,
        platform_id=mid,
        text=text,
    )


def receipt(
    status: Literal["delivered", "read", "failed"],
    *,
    ids: tuple[str, ...] = (),
    watermark: int | None = None,
    errors: tuple[PlatformError, ...] = (),
) -> Status:
    return Status(
        channel_id="CH1",
        platform="messenger",
        customer=Customer(id="U1"),
        timestamp_ms=T0 + 40,
        status=status,
        message_ids=ids,
        watermark_ms=watermark,
        errors=errors,
    )


def subscription(
    action: Literal["conversation_started", "subscribed", "unsubscribed"],
    *,
    name: str | None = None,
    subscribed: bool | None = None,
) -> Subscription:
    return Subscription(
        channel_id="VIB",
        platform="viber",
        customer=Customer(id="V1", name=name),
        timestamp_ms=T0,
        action=action,
        subscribed=subscribed,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "desktop.db")
    await opened.set_identity("biz-1", DEVICE)
    try:
        yield opened
    finally:
        await opened.close()


async def apply(store: Store, *events: Event) -> None:
    await store.apply_events([frame(e) for e in events])


async def only_conversation_id(store: Store) -> int:
    (conversation,) = await store.list_conversations()
    return conversation.id


async def test_inbound_message_creates_customer_conversation_and_message(store: Store) -> None:
    """A MessageReceived makes the customer, an open conversation and an unread message."""
    event = MessageReceived(
        channel_id="CH1",
        platform="whatsapp",
        customer=Customer(id="38344111222", name="Besa", phone="+38344111222"),
        timestamp_ms=T0,
        platform_id="wamid.1",
        text="A keni tavolinë për katër sonte?",
        attachments=(Attachment(type="image", url="https://cdn.example/1.jpg"),),
    )
    await apply(store, event)
    (conversation,) = await store.list_conversations()
    assert conversation.customer.name == "Besa"
    assert conversation.customer.phone == "+38344111222"
    assert conversation.status == "open"
    assert conversation.unread == 1
    assert conversation.last_message_direction == "in"
    assert conversation.last_message_preview == "A keni tavolinë për katër sonte?"
    assert conversation.window_deadline_ms == T0 + STANDARD_WINDOW_MS
    (message,) = await store.messages(conversation.id)
    assert message.direction == "in" and message.author == "customer"
    assert message.status == "received" and message.platform_id == "wamid.1"
    assert message.attachments[0].url == "https://cdn.example/1.jpg"


async def test_same_event_twice_is_applied_once(store: Store) -> None:
    """Redelivered events (same id) are skipped, yet the cursor still moves to them."""
    first = frame(received("hello", "m1"))
    batch = await store.apply_events([first])
    assert (batch.applied, batch.duplicates) == (1, 0)
    again = await store.apply_events([first, first])
    assert (again.applied, again.duplicates) == (0, 2)
    conversation_id = await only_conversation_id(store)
    assert len(await store.messages(conversation_id)) == 1
    assert (await store.conversation(conversation_id)).unread == 1  # type: ignore[union-attr]
    assert await store.cursor() == first.seq


async def test_window_follows_the_latest_customer_action(store: Store) -> None:
    """The deadline is 24 h after the newest inbound message, postback or reaction."""
    await apply(store, received("one", "m1", ts=T0), received("two", "m2", ts=T0 + 1000))
    conversation_id = await only_conversation_id(store)
    conversation = await store.conversation(conversation_id)
    assert (
        conversation is not None
        and conversation.window_deadline_ms == T0 + 1000 + STANDARD_WINDOW_MS
    )
    await apply(store, received("late-arriving old one", "m0", ts=T0 - 5000))
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.last_inbound_ms == T0 + 1000
    await apply(store, received("viber", "v1", customer="V1", channel="VIB", platform="viber"))
    (viber,) = await store.list_conversations(ConversationQuery(channel_id="VIB"))
    assert viber.window_deadline_ms is None


async def test_unread_mark_read_and_reopening(store: Store) -> None:
    """Inbound messages count as unread and reopen a resolved conversation."""
    await apply(store, received("a", "m1"), received("b", "m2"))
    conversation_id = await only_conversation_id(store)
    assert (await store.conversation(conversation_id)).unread == 2  # type: ignore[union-attr]
    await store.mark_read(conversation_id)
    await store.set_status(conversation_id, "resolved")
    assert (await store.conversation(conversation_id)).status == "resolved"  # type: ignore[union-attr]
    await apply(store, received("c", "m3"))
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.status == "open" and conversation.unread == 1


async def test_echo_of_our_send_is_ignored_and_a_foreign_echo_pauses(store: Store) -> None:
    """An echo with our sent message's platform id adds nothing; another echo pauses."""
    await apply(store, received("hi", "m1"), sent("Hello!", "s1", "mid.out1"))
    conversation_id = await only_conversation_id(store)
    await apply(store, echo("Hello!", "mid.out1"))
    assert len(await store.messages(conversation_id)) == 2
    assert not (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]

    await apply(store, echo("I'll call you", "mid.phone"))
    messages = await store.messages(conversation_id)
    assert [m.author for m in messages] == ["customer", "owner", "elsewhere"]
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.assistant_paused
    assert conversation.paused_reason == "echo"
    await store.resume_assistant(conversation_id)
    assert not (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]


async def test_echo_that_outran_the_send_event_is_merged(store: Store) -> None:
    """If the echo of our send arrives first, MessageSent adopts it and lifts the pause."""
    await apply(store, received("hi", "m1"), echo("Hello!", "mid.out1", ts=T0 + 5))
    conversation_id = await only_conversation_id(store)
    assert (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]
    await apply(store, sent("Hello!", "s1", "mid.out1", device="laptop-2"))
    messages = await store.messages(conversation_id)
    assert len(messages) == 2
    assert messages[1].author == "owner" and messages[1].send_id == "s1"
    assert not (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]


async def test_our_queued_reply_is_matched_by_its_key_not_duplicated(store: Store) -> None:
    """MessageSent carrying our reply's key settles our queued row, even before the answer."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id, "Po, kemi.", idempotency_key="key-00000001", author="owner"
    )
    assert queued.status == "queued"
    await store.mark_sending(queued.id)
    await apply(store, sent("Po, kemi.", "s9", "mid.9", device=DEVICE, key="key-00000001"))
    (_, out) = await store.messages(conversation_id)
    assert out.id == queued.id and out.status == "sent" and out.send_id == "s9"
    await store.record_sent(queued.id, send_id="s9", platform_message_id="mid.9")
    assert len(await store.messages(conversation_id)) == 2
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.status == "waiting"


async def test_same_text_twice_is_two_replies_each_settled_by_its_own_key(store: Store) -> None:
    """Two queued replies with the same text are told apart by key, whatever order."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    first = await store.queue_outbound(
        conversation_id, "Thanks!", idempotency_key="key-first-01", author="owner"
    )
    second = await store.queue_outbound(
        conversation_id, "Thanks!", idempotency_key="key-second-2", author="owner"
    )
    await apply(store, sent("Thanks!", "s-2", "mid.b", device=DEVICE, key="key-second-2"))
    assert (await store.message(first.id)).status == "queued"  # type: ignore[union-attr]
    assert (await store.message(second.id)).platform_id == "mid.b"  # type: ignore[union-attr]
    await apply(store, sent("Thanks!", "s-1", "mid.a", device=DEVICE, key="key-first-01"))
    messages = await store.messages(conversation_id)
    assert [(m.id, m.status, m.platform_id) for m in messages[1:]] == [
        (first.id, "sent", "mid.a"),
        (second.id, "sent", "mid.b"),
    ]


async def test_an_event_older_than_the_key_is_folded_in_by_the_answer(store: Store) -> None:
    """A send event without a key (an older relay) is stored as its own row first; the
    relay's answer then folds it into our reply by send id."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id, "Yes", idempotency_key="key-00000002", author="owner"
    )
    await apply(store, sent("Yes", "s2", "mid.2", device=None))
    await apply(
        store,
        Status(
            channel_id="CH1",
            platform="messenger",
            customer=Customer(id="U1"),
            timestamp_ms=T0 + 9,
            status="delivered",
            message_ids=("mid.2",),
        ),
    )
    assert len(await store.messages(conversation_id)) == 3
    await store.record_sent(queued.id, send_id="s2", platform_message_id="mid.2")
    (_, out) = await store.messages(conversation_id)
    assert out.id == queued.id and out.status == "delivered"


Arrival = Literal["answer", "event", "echo"]


@pytest.mark.parametrize("order", list(itertools.permutations(("answer", "event", "echo"))))
async def test_a_sent_reply_is_one_bubble_in_every_arrival_order(
    store: Store, order: tuple[Arrival, ...]
) -> None:
    """The relay's answer, the MessageSent event and the platform's echo, in any order,
    leave one outbound row, sent, with the platform id, and the assistant not paused."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id,
        "On its way",
        idempotency_key="key-order-01",
        draft_id=None,
        author="assistant",
        automatic=True,
    )
    await store.mark_sending(queued.id)
    for arrival in order:
        if arrival == "answer":
            await store.record_sent(queued.id, send_id="s-ord", platform_message_id="mid.ord")
        elif arrival == "event":
            event = sent(
                "On its way",
                "s-ord",
                "mid.ord",
                device=DEVICE,
                key="key-order-01",
                automatic=True,
            )
            await apply(store, event)
        else:
            await apply(store, echo("On its way", "mid.ord", ts=T0 + 6))
    (_, out) = await store.messages(conversation_id)
    assert (out.id, out.status, out.send_id, out.platform_id, out.author) == (
        queued.id,
        "sent",
        "s-ord",
        "mid.ord",
        "assistant",
    )
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and not conversation.assistant_paused
    assert (conversation.last_message_id, conversation.last_message_status) == (queued.id, "sent")


@pytest.mark.parametrize("order", [("answer", "event"), ("event", "answer")])
async def test_a_failed_reply_is_one_bubble_in_either_arrival_order(
    store: Store, order: tuple[Arrival, ...]
) -> None:
    """The relay's refusal and the SendFailed event, in either order, mark our one row
    failed with the reason."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id, "Too late", idempotency_key="key-fail-001", author="owner"
    )
    await store.mark_sending(queued.id)
    failure = send_failed(
        "s-fail", "window_closed", "The reply window has closed.", key="key-fail-001"
    )
    for arrival in order:
        if arrival == "answer":
            await store.record_failed(
                queued.id, code="window_closed", message="The reply window has closed."
            )
        else:
            await apply(store, failure)
    (_, out) = await store.messages(conversation_id)
    assert (out.id, out.status, out.error_code) == (queued.id, "failed", "window_closed")


async def test_message_sent_from_another_device_is_added(store: Store) -> None:
    """A reply sent by another device of the business shows up here too."""
    await apply(store, received("hi", "m1"), sent("From the phone", "s3", "mid.3", device="phone"))
    conversation_id = await only_conversation_id(store)
    (_, out) = await store.messages(conversation_id)
    assert out.text == "From the phone" and out.device_id == "phone" and out.status == "sent"


async def test_send_failed_marks_the_message_with_its_reason(store: Store) -> None:
    """SendFailed marks our row failed with the code and message; another device's is added."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id, "Late reply", idempotency_key="key-00000003", author="owner"
    )
    await store.mark_sending(queued.id)
    failure = send_failed("s4", "window_closed", "The reply window has closed.", key="key-00000003")
    await apply(store, failure)
    failed = await store.message(queued.id)
    assert failed is not None and failed.status == "failed"
    assert (failed.error_code, failed.error_message) == (
        "window_closed",
        "The reply window has closed.",
    )
    other = send_failed("s5", "too_long", "Too long.", device="phone", ts=T0 + 8)
    await apply(store, other)
    messages = await store.messages(conversation_id)
    assert [m.status for m in messages] == ["received", "failed", "failed"]
    assert {m.send_id: m.error_code for m in messages[1:]} == {
        "s4": "window_closed",
        "s5": "too_long",
    }


async def test_a_stale_failure_of_a_requeued_reply_adds_no_row(store: Store) -> None:
    """A failure event for a key our reply no longer holds (the owner queued it again
    under a new key) adds no row of its own."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    queued = await store.queue_outbound(
        conversation_id, "x", idempotency_key="key-00000004", author="owner"
    )
    await store.record_failed(queued.id, code="window_closed", message="Closed.")
    await store.requeue(queued.id, "key-00000005")
    await apply(
        store,
        send_failed("s6", "window_closed", "Closed.", key="key-00000004", ts=T0),
    )
    assert len(await store.messages(conversation_id)) == 2
    assert (await store.message(queued.id)).status == "queued"  # type: ignore[union-attr]


async def test_a_reply_of_unknown_outcome_can_be_confirmed_as_delivered(store: Store) -> None:
    """The owner saw the reply arrive: it counts as sent, without a send. Only a reply
    whose outcome is unknown can be confirmed; a refused one cannot."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    lost, refused = [
        await store.queue_outbound(conversation_id, text, idempotency_key=key, author="owner")
        for text, key in (("lost", "key-00000007"), ("refused", "key-00000008"))
    ]
    await store.record_failed(lost.id, code=UNKNOWN_OUTCOME, message="May have arrived.")
    await store.record_failed(refused.id, code="window_closed", message="Closed.")
    await store.confirm_delivered(lost.id)
    confirmed = await store.message(lost.id)
    assert confirmed is not None and confirmed.status == "sent" and confirmed.error_code is None
    with pytest.raises(NotRequeueable):
        await store.confirm_delivered(refused.id)
    with pytest.raises(NotRequeueable):
        await store.confirm_delivered(lost.id)  # once only
    assert (await store.message(refused.id)).status == "failed"  # type: ignore[union-attr]


async def test_status_receipts_by_id_and_watermark_never_go_back(store: Store) -> None:
    """Delivery/read receipts move outbound statuses forward only; watermark covers older."""
    await apply(
        store,
        received("hi", "m1"),
        sent("one", "s1", "o1", ts=T0 + 10),
        sent("two", "s2", "o2", ts=T0 + 20),
        sent("three", "s3", "o3", ts=T0 + 30),
    )
    conversation_id = await only_conversation_id(store)
    await apply(store, receipt("read", ids=("o1",)))
    await apply(store, receipt("delivered", ids=("o1", "o2")))
    await apply(store, receipt("read", watermark=T0 + 25))
    statuses = [m.status for m in await store.messages(conversation_id)]
    assert statuses == ["received", "read", "read", "sent"]
    failure = PlatformError(code=131047, title="Re-engagement message")
    await apply(store, receipt("failed", ids=("o3",), errors=(failure,)))
    last = (await store.messages(conversation_id))[-1]
    assert last.status == "failed" and last.error_code == "platform_131047"
    assert last.error_message == "Re-engagement message"
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.last_message_status == "failed"


async def test_reaction_edit_and_unsend(store: Store) -> None:
    """Reactions attach to their message; edits change text; an unsent message is blanked."""
    await apply(
        store, received("hi", "m1"), sent("Hello", "s1", "o1"), received("typo", "m2", ts=T0 + 50)
    )
    conversation_id = await only_conversation_id(store)
    head: Any = {
        "channel_id": "CH1",
        "platform": "messenger",
        "customer": Customer(id="U1"),
        "timestamp_ms": T0 + 100,
    }
    await apply(store, Reaction(**head, platform_id="r1", message_id="o1", emoji="❤️"))
    await apply(store, MessageEdited(**head, platform_id="e1", message_id="m2", text="type"))
    await apply(store, MessageDeleted(**head, platform_id="d1", message_id="m1"))
    first, reply, edited = await store.messages(conversation_id)
    assert reply.reaction == "❤️"
    assert edited.text == "type" and edited.edited_at_ms == T0 + 100
    assert first.deleted and first.text is None
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.last_inbound_ms == T0 + 100
    await apply(store, Reaction(**head, platform_id="r2", message_id="o1", action="unreact"))
    assert (await store.message(reply.id)).reaction is None  # type: ignore[union-attr]


async def test_postback_and_viber_subscription(store: Store) -> None:
    """A button press is an inbound message; Viber subscription state is kept on the customer."""
    await apply(
        store,
        Postback(
            channel_id="CH1",
            platform="messenger",
            customer=Customer(id="U1"),
            timestamp_ms=T0,
            platform_id="pb1",
            payload="MENU",
            title="Show the menu",
        ),
    )
    conversation_id = await only_conversation_id(store)
    (message,) = await store.messages(conversation_id)
    assert message.kind == "postback" and message.text == "Show the menu"
    assert message.extras.postback_payload == "MENU"
    await apply(store, subscription("conversation_started", name="Dren", subscribed=False))
    (started,) = await store.list_conversations(ConversationQuery(channel_id="VIB"))
    assert started.customer.name == "Dren" and started.customer.subscribed is False
    await apply(store, subscription("subscribed"))
    customer = await store.customer(started.customer.id)
    assert customer is not None and customer.subscribed is True and customer.name == "Dren"


async def test_channels_from_events_and_from_the_relay_list(store: Store) -> None:
    """ChannelChanged keeps the local channel table; the relay's list can replace it."""
    await apply(
        store,
        ChannelChanged(
            timestamp_ms=T0, channel_id="CH1", platform="messenger", status="connected", name="Kafe"
        ),
    )
    await apply(
        store,
        ChannelChanged(
            timestamp_ms=T0 + 1,
            channel_id="CH1",
            platform="messenger",
            status="needs_reconnect",
            detail="Token expired.",
        ),
    )
    (channel,) = await store.channels()
    assert (channel.name, channel.status, channel.detail) == (
        "Kafe",
        "needs_reconnect",
        "Token expired.",
    )
    await store.replace_channels(
        [
            ChannelInfo(
                id="CH2",
                platform="viber",
                external_id="x",
                name="Bot",
                status="healthy",
                created_at_ms=T0,
            )
        ]
    )
    by_id = {c.id: c for c in await store.channels()}
    assert by_id["CH1"].status == "disconnected" and by_id["CH2"].name == "Bot"


async def test_customer_erased_removes_all_their_data(store: Store, tmp_path: Path) -> None:
    """Erasure deletes the customer's messages, drafts, conversation, profile and search entries."""
    await apply(
        store,
        received("my secret address is Rruga 5", "m1"),
        received("other customer", "m2", customer="U2", name="Other"),
    )
    first = next(c for c in await store.list_conversations() if c.customer.platform_id == "U1")
    await store.add_draft(NewDraft(conversation_id=first.id, text="Thanks", drafter="extractive"))
    seen: list[Change] = []
    store.changes.subscribe(seen.extend)
    await apply(
        store,
        CustomerErased(timestamp_ms=T0, channel_id="CH1", customer_id="U1", request_id="req-1"),
    )
    assert ConversationRemoved(conversation_id=first.id) in seen
    assert [c.customer.platform_id for c in await store.list_conversations()] == ["U2"]
    assert await store.messages(first.id) == []
    assert await store.pending_drafts() == []
    assert await store.customer(first.customer.id) is None
    assert await store.list_conversations(ConversationQuery(text="Rruga")) == []
    raw = (tmp_path / "desktop.db").read_bytes() + (tmp_path / "desktop.db-wal").read_bytes()
    assert b"Rruga 5" not in raw


async def test_usage_warning_is_kept_for_the_ui(store: Store) -> None:
    """The newest warning per metric is kept."""
    await apply(
        store,
        UsageWarning(
            timestamp_ms=T0,
            metric="ai_tokens",
            used=80,
            limit=100,
            share=0.8,
            resets_on="2026-12-01",
        ),
    )
    await apply(
        store,
        UsageWarning(
            timestamp_ms=T0 + 1,
            metric="ai_tokens",
            used=95,
            limit=100,
            share=0.95,
            resets_on="2026-12-01",
        ),
    )
    (notice,) = await store.usage_notices()
    assert notice.used == 95 and notice.share == 0.95


async def test_list_filters_search_and_orders(store: Store) -> None:
    """Channel, status, label, text (words, names in any script, phone) and window order."""
    await apply(
        store,
        received("Do you deliver pizza?", "a1", customer="A", name="Arben", ts=T0),
        received("Колико кошта торта?", "b1", customer="B", name="Милица", ts=T0 + 1000),
        received("hi", "c1", customer="C", name="Cena", channel="CH2", ts=T0 + 2000),
    )
    by_name = {c.customer.name: c for c in await store.list_conversations()}
    assert [c.customer.name for c in await store.list_conversations()] == [
        "Cena",
        "Милица",
        "Arben",
    ]
    assert [
        c.customer.name for c in await store.list_conversations(ConversationQuery(channel_id="CH2"))
    ] == ["Cena"]
    assert [
        c.customer.name for c in await store.list_conversations(ConversationQuery(text="deliv"))
    ] == ["Arben"]
    assert [
        c.customer.name for c in await store.list_conversations(ConversationQuery(text="КОШТА"))
    ] == ["Милица"]
    assert [
        c.customer.name for c in await store.list_conversations(ConversationQuery(text="мили"))
    ] == ["Милица"]
    await store.set_status(by_name["Arben"].id, "resolved")
    await store.set_labels(by_name["Cena"].id, ["vip", "wholesale", "vip"])
    open_ones = await store.list_conversations(ConversationQuery(statuses=("open",)))
    assert {c.customer.name for c in open_ones} == {"Cena", "Милица"}
    (vip,) = await store.list_conversations(ConversationQuery(label="vip"))
    assert vip.labels == ("vip", "wholesale")
    window = await store.list_conversations(ConversationQuery(order="window"))
    assert [c.customer.name for c in window] == ["Arben", "Милица", "Cena"]
    expiring = await store.expiring_conversations(now=T0 + 500)
    assert [c.customer.name for c in expiring] == ["Милица", "Cena"]  # Arben is resolved
    assert await store.list_conversations(ConversationQuery(text='? "(')) == []
    page = await store.list_conversations(ConversationQuery(limit=1, offset=1))
    assert [c.customer.name for c in page] == ["Милица"]
    # A search that needs only ids gets exactly the ids the full listing has.
    for query in (
        ConversationQuery(text="мили"),
        ConversationQuery(text="deliv"),
        ConversationQuery(text="c"),
        ConversationQuery(label="vip"),
        ConversationQuery(order="window", limit=2),
        ConversationQuery(text='? "('),
    ):
        listed = [c.id for c in await store.list_conversations(query)]
        assert await store.conversation_ids(query) == listed


async def test_drafts_queue_supersede_and_approve(store: Store) -> None:
    """A new draft supersedes the older pending one; approving queues the reply."""
    await apply(store, received("Open Sunday?", "m1"))
    conversation_id = await only_conversation_id(store)
    (inbound,) = await store.messages(conversation_id)
    first = await store.add_draft(
        NewDraft(
            conversation_id=conversation_id,
            for_message_id=inbound.id,
            text="Yes, 9-14.",
            drafter="llm",
            cited_chunk_ids=("faq-7#0",),
            confidence=0.9,
            grounded=True,
            prompt_tokens=900,
            completion_tokens=40,
            cost_usd=0.0012,
            model="gpt-test",
        )
    )
    second = await store.add_draft(
        NewDraft(
            conversation_id=conversation_id,
            for_message_id=inbound.id,
            text="Yes, 9 to 14.",
            drafter="llm",
            cited_chunk_ids=("faq-7#0",),
            confidence=0.92,
        )
    )
    assert (await store.draft(first.id)).state == "superseded"  # type: ignore[union-attr]
    (pending,) = await store.pending_drafts()
    assert pending.id == second.id and pending.cited_chunk_ids == ("faq-7#0",)
    assert (await store.conversation(conversation_id)).has_pending_draft  # type: ignore[union-attr]
    await store.edit_draft(second.id, "Yes, 9:00 to 14:00.")
    message = await store.queue_outbound(
        conversation_id,
        "Yes, 9:00 to 14:00.",
        idempotency_key="key-00000010",
        author="owner",
        draft_id=second.id,
        in_reply_to_id=inbound.id,
    )
    approved = await store.draft(second.id)
    assert (
        approved is not None and approved.state == "approved" and approved.message_id == message.id
    )
    assert await store.pending_drafts() == []
    assert not (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]
    with pytest.raises(DraftNotPending):
        await store.discard_draft(second.id)
    await store.record_sent(message.id, send_id="s1", platform_message_id="mid.1")
    assert (await store.draft(second.id)).state == "sent"  # type: ignore[union-attr]


async def test_hand_written_reply_pauses_until_resolved(store: Store) -> None:
    """The owner replying by hand pauses the assistant; resolving hands it back."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    await store.queue_outbound(
        conversation_id, "Let me check.", idempotency_key="key-00000011", author="owner"
    )
    conversation = await store.conversation(conversation_id)
    assert conversation is not None and conversation.assistant_paused
    assert conversation.paused_reason == "owner_reply"
    await store.set_status(conversation_id, "resolved")
    assert not (await store.conversation(conversation_id)).assistant_paused  # type: ignore[union-attr]


async def test_snooze_wakes_when_due(store: Store) -> None:
    """A snoozed conversation reopens once its time has come."""
    await apply(store, received("hi", "m1"))
    conversation_id = await only_conversation_id(store)
    await store.set_status(conversation_id, "snoozed", snoozed_until_ms=1)
    assert await store.wake_snoozed() == 1
    assert (await store.conversation(conversation_id)).status == "open"  # type: ignore[union-attr]


async def test_unreadable_event_is_skipped_and_recorded(store: Store) -> None:
    """An event this version cannot read moves the cursor and leaves the rest applied."""
    good = frame(received("hi", "m1"))
    skipped = SkippedEvent(seq=good.seq + 1, id="ev-future", error="unknown kind 'poll'")
    batch = await store.apply_events([good, skipped])
    assert (batch.applied, batch.failed, batch.cursor) == (1, 1, skipped.seq)
    assert len(await store.list_conversations()) == 1


async def test_changes_are_announced_after_commit(store: Store) -> None:
    """Listeners get typed notes after the commit, and can read the new state at once."""
    seen: list[Sequence[Change]] = []
    reads: list[asyncio.Task[Message | None]] = []

    def listener(changes: Sequence[Change]) -> None:
        seen.append(changes)
        loop = asyncio.get_running_loop()
        reads.extend(
            loop.create_task(store.message(c.message_id))
            for c in changes
            if isinstance(c, MessageAdded)
        )

    store.changes.subscribe(listener)
    await apply(
        store,
        received("hi", "m1"),
        ChannelChanged(timestamp_ms=T0, channel_id="CH1", platform="messenger", status="connected"),
    )
    conversation_id = await only_conversation_id(store)
    (batch,) = seen
    assert ConversationChanged(conversation_id=conversation_id) in batch
    assert ChannelsChanged() in batch
    added = [c for c in batch if isinstance(c, MessageAdded)]
    assert len(added) == 1 and added[0].inbound
    (message,) = await asyncio.gather(*reads)
    assert message is not None and message.id == added[0].message_id and message.text == "hi"


async def test_store_reopens_and_refuses_another_business(tmp_path: Path) -> None:
    """Data and cursor survive a reopen; the file will not take a second business."""
    path = tmp_path / "d.db"
    async with await Store.open(path) as store:
        await store.set_identity("biz-1", "dev-1")
        await store.apply_events([frame(received("hi", "m1"))])
        cursor = await store.cursor()
    async with await Store.open(path) as store:
        assert await store.cursor() == cursor
        assert (await store.identity()).device_id == "dev-1"
        assert len(await store.list_conversations()) == 1
        with pytest.raises(WrongBusiness):
            await store.set_identity("biz-2", "dev-9")


async def test_list_queries_use_indexes(store: Store, tmp_path: Path) -> None:
    """The list's filters and orders are answered from indexes, not by sorting the table."""
    await apply(store, received("hi", "m1"))
    conn = sqlite3.connect(tmp_path / "desktop.db")
    try:

        def plan(sql: str, *params: object) -> str:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return " | ".join(r[-1] for r in rows)

        recent = plan("SELECT id FROM conversations ORDER BY last_activity_ms DESC, id DESC")
        assert "conversations_recent" in recent and "TEMP B-TREE" not in recent
        by_status = plan(
            "SELECT id FROM conversations WHERE status = ? ORDER BY last_activity_ms DESC, id DESC",
            "open",
        )
        assert "conversations_status" in by_status and "TEMP B-TREE" not in by_status
        by_channel = plan(
            "SELECT id FROM conversations WHERE channel_id = ?"
            " ORDER BY last_activity_ms DESC, id DESC",
            "CH1",
        )
        assert "conversations_channel" in by_channel and "TEMP B-TREE" not in by_channel
        window = plan(
            "SELECT id FROM conversations WHERE window_deadline_ms > ? ORDER BY window_deadline_ms",
            0,
        )
        assert "conversations_window" in window and "TEMP B-TREE" not in window
        thread = plan(
            "SELECT id FROM messages WHERE conversation_id = ? ORDER BY timestamp_ms DESC, id DESC",
            1,
        )
        assert "messages_conversation" in thread and "TEMP B-TREE" not in thread
    finally:
        conn.close()
