"""The away sweep's query, on both databases: which stored messages may still owe a reply."""

from __future__ import annotations

from collections.abc import Sequence

from common.events import EVENT_DECODER, Customer, MessageReceived, MessageSent
from relay.ingest import append_events, record
from relay.store import Store
from relay.store.clock import now_ms
from relay.store.port import Row


def _message(psid: str, mid: str, channel_id: str = "c1") -> MessageReceived:
    return MessageReceived(
        channel_id=channel_id,
        platform="messenger",
        customer=Customer(id=psid),
        timestamp_ms=now_ms(),
        platform_id=mid,
        text="Hello?",
    )


async def test_only_unanswered_first_messages_on_switched_on_channels(store: Store) -> None:
    user = await store.create_business("Shop", "Owner", "owner@example.com", "hash")
    biz = user.business_id
    await store.create_channel(biz, "c1", "messenger", "PAGE1", "Page", "k1", b"x")
    await store.create_channel(biz, "c2", "messenger", "PAGE2", "Page 2", "k1", b"x")
    start = now_ms() - 1
    reply = MessageSent(
        channel_id="c1",
        platform="messenger",
        customer=Customer(id="P2"),
        timestamp_ms=now_ms(),
        platform_id="out-1",
        text="Hi",
        send_id="s-1",
    )
    events = (
        _message("P1", "m-1"),  # owed
        _message("P1", "m-2"),  # not the first of P1
        _message("P2", "m-3"),  # answered
        reply,
        _message("P3", "m-4"),  # owed
        _message("P4", "m-5", "c2"),  # its channel's switch is off
    )
    await append_events(store, [record(biz, e) for e in events])
    until = now_ms()
    assert await store.away_candidates(start, until, 10) == []  # no switch on yet
    assert await store.set_away_channel(biz, "c1", True, 0)
    assert await store.set_away_channel(biz, "c2", False, 0)

    def owed(rows: Sequence[Row]) -> list[str | None]:
        decoded = [EVENT_DECODER.decode(r["payload"]) for r in rows]
        return [e.platform_id for e in decoded if isinstance(e, MessageReceived)]

    rows = await store.away_candidates(start, until, 10)
    assert owed(rows) == ["m-1", "m-4"]
    assert {r["business_id"] for r in rows} == {biz}
    assert await store.away_candidates(until, now_ms(), 10) == []  # a later window: none
    assert owed(await store.away_candidates(start, until, 1)) == ["m-1"]  # oldest first
