"""The storage contract: the same tests against the SQLite and the PostgreSQL store."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from relay.store import (
    Conflict,
    NewEvent,
    PostgresStore,
    Store,
    StoredEvent,
    UserRow,
    open_store,
)
from relay.store.base import (
    ChannelHealthRow,
    DeletionRequestRow,
    MetaLoginRow,
    RetentionCounts,
    RetentionCutoffs,
)
from tests.pg import pg_schema

# A guard against a hang, never a measured time.
WAIT_S = 10.0


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A DSN of a fresh PostgreSQL schema, for tests of what only PostgreSQL does."""
    async with pg_schema() as dsn:
        yield dsn


def _id() -> str:
    return uuid.uuid4().hex


def event(
    business_id: str,
    text: str = "hi",
    *,
    channel_id: str | None = None,
    customer_id: str | None = None,
    dedupe_key: str | None = None,
    inbound: bool = False,
    timestamp_ms: int = 1_000,
) -> NewEvent:
    return NewEvent(
        id=_id(),
        business_id=business_id,
        kind="message_received" if inbound else "note",
        payload=text.encode(),
        timestamp_ms=timestamp_ms,
        channel_id=channel_id,
        customer_id=customer_id,
        dedupe_key=dedupe_key,
        inbound=inbound,
    )


async def business(store: Store, email: str | None = None) -> UserRow:
    return await store.create_business("Shop", "Owner", email or f"{_id()}@example.com", "hash")


async def channel(store: Store, business_id: str, external_id: str | None = None) -> str:
    channel_id = _id()
    await store.create_channel(
        business_id, channel_id, "messenger", external_id or _id(), "Page", "k1", b"\x00secret"
    )
    return channel_id


def texts(rows: list[StoredEvent]) -> list[str]:
    return [r.payload.decode() for r in rows]


# ---- accounts ---------------------------------------------------------------------------


async def test_business_owner_is_found_by_email_in_any_case(store: Store) -> None:
    """The owner's e-mail is stored lower-cased and found whatever its case."""
    user = await store.create_business("Shop", "Ann", "  Ann@Example.COM ", "h1")
    assert user.email == "ann@example.com"
    assert await store.user_by_email("ANN@example.com") == user
    assert await store.user(user.business_id, user.id) == user
    assert await store.user_by_email("bob@example.com") is None


async def test_duplicate_email_is_a_conflict(store: Store) -> None:
    """A second business with the same e-mail, in another case, is refused."""
    await store.create_business("Shop", "Ann", "ann@example.com", "h1")
    with pytest.raises(Conflict):
        await store.create_business("Other", "Ann", "ANN@example.com", "h2")


async def test_users_and_passwords_are_scoped_by_business(store: Store) -> None:
    """Another business can neither read a user nor change the password."""
    ann = await business(store)
    bob = await business(store)
    assert await store.user(bob.business_id, ann.id) is None
    await store.set_password(bob.business_id, ann.id, "stolen")
    assert (await store.user(ann.business_id, ann.id)) == ann
    await store.set_password(ann.business_id, ann.id, "new")
    changed = await store.user(ann.business_id, ann.id)
    assert changed is not None
    assert changed.password_hash == "new"


async def test_session_is_valid_until_it_expires(store: Store) -> None:
    """A session answers before its expiry and not from then on."""
    user = await business(store)
    await store.create_session("tok", user, expires_at_ms=5_000)
    session = await store.session("tok", now_ms=4_999)
    assert session is not None
    assert (session.user_id, session.business_id, session.expires_at_ms) == (
        user.id,
        user.business_id,
        5_000,
    )
    assert await store.session("tok", now_ms=5_000) is None
    assert await store.session("unknown", now_ms=0) is None


async def test_revoked_session_is_gone(store: Store) -> None:
    """Revoking a session ends it."""
    user = await business(store)
    await store.create_session("tok", user, expires_at_ms=10_000)
    await store.revoke_session("tok")
    assert await store.session("tok", now_ms=0) is None


async def test_revoking_other_sessions_keeps_the_current_one(store: Store) -> None:
    """Revoking a user's sessions counts the live ones ended and spares ``keep``."""
    user = await business(store)
    other = await business(store)
    for token in ("a", "b", "c"):
        await store.create_session(token, user, expires_at_ms=10_000)
    await store.create_session("other", other, expires_at_ms=10_000)
    await store.revoke_session("c")
    assert await store.revoke_user_sessions(user.id, keep="a") == 1
    assert await store.session("a", now_ms=0) is not None
    assert await store.session("b", now_ms=0) is None
    assert await store.session("other", now_ms=0) is not None
    assert await store.revoke_user_sessions(user.id) == 1
    assert await store.session("a", now_ms=0) is None


# ---- devices ----------------------------------------------------------------------------


async def test_devices_are_listed_for_their_business_only(store: Store) -> None:
    """A device is found by its business and invisible to another."""
    ann = await business(store)
    bob = await business(store)
    laptop = await store.create_device(ann.business_id, "Laptop")
    phone = await store.create_device(ann.business_id, "Phone")
    assert laptop.cursor == 0
    assert await store.device(ann.business_id, laptop.id) == laptop
    assert await store.device(bob.business_id, laptop.id) is None
    assert {d.id for d in await store.devices(ann.business_id)} == {laptop.id, phone.id}
    assert await store.devices(bob.business_id) == []


async def test_cursor_only_moves_forward_within_its_business(store: Store) -> None:
    """Advancing a cursor keeps the larger value, and another business cannot move it."""
    ann = await business(store)
    bob = await business(store)
    device = await store.create_device(ann.business_id, "Laptop")
    await store.advance_cursor(ann.business_id, device.id, 7)
    await store.advance_cursor(ann.business_id, device.id, 3)
    await store.advance_cursor(bob.business_id, device.id, 100)
    row = await store.device(ann.business_id, device.id)
    assert row is not None
    assert row.cursor == 7


# ---- channels ---------------------------------------------------------------------------


async def test_channel_round_trips(store: Store) -> None:
    """A created channel reads back with its secret bytes, connected."""
    user = await business(store)
    row = await store.create_channel(
        user.business_id, "ch1", "whatsapp", "1065", None, "k1", b"\x00\xffcipher"
    )
    assert row.status == "connected"
    assert await store.channel(user.business_id, "ch1") == row
    assert await store.channel_by_id("ch1") == row
    assert await store.channels(user.business_id) == [row]
    assert row in await store.all_channels()


async def test_a_whatsapp_channel_keeps_its_business_account(store: Store) -> None:
    """The Business Account id given at connection reads back (account-level webhooks)."""
    user = await business(store)
    row = await store.create_channel(
        user.business_id, "ch1", "whatsapp", "1065", None, "k1", b"s", account_id="2391001"
    )
    assert row.account_id == "2391001"
    assert await store.channel_by_id("ch1") == row
    assert [c.account_id for c in await store.all_channels()] == ["2391001"]


async def test_same_platform_account_cannot_connect_twice(store: Store) -> None:
    """platform + external_id is unique across businesses; another platform may reuse the id."""
    ann = await business(store)
    bob = await business(store)
    await store.create_channel(ann.business_id, _id(), "messenger", "42", None, "k1", b"s")
    with pytest.raises(Conflict):
        await store.create_channel(bob.business_id, _id(), "messenger", "42", None, "k1", b"s")
    await store.create_channel(bob.business_id, _id(), "instagram", "42", None, "k1", b"s")


async def test_another_business_cannot_touch_a_channel(store: Store) -> None:
    """Reading, listing, updating and deleting are all scoped by business."""
    ann = await business(store)
    bob = await business(store)
    channel_id = await channel(store, ann.business_id)
    assert await store.channel(bob.business_id, channel_id) is None
    assert await store.channels(bob.business_id) == []
    await store.set_channel_status(bob.business_id, channel_id, "needs_reconnect")
    await store.replace_secret(bob.business_id, channel_id, "k9", b"evil")
    assert not await store.delete_channel(bob.business_id, channel_id, None)
    row = await store.channel(ann.business_id, channel_id)
    assert row is not None
    assert (row.status, row.key_id, row.secret) == ("connected", "k1", b"\x00secret")


async def test_channel_status_and_secret_change(store: Store) -> None:
    """The owner can change a channel's status and replace its secret."""
    user = await business(store)
    channel_id = await channel(store, user.business_id)
    await store.set_channel_status(user.business_id, channel_id, "needs_reconnect")
    await store.replace_secret(user.business_id, channel_id, "k2", b"new")
    row = await store.channel(user.business_id, channel_id)
    assert row is not None
    assert (row.status, row.key_id, row.secret) == ("needs_reconnect", "k2", b"new")


# ---- event log --------------------------------------------------------------------------


async def test_append_keeps_order(store: Store) -> None:
    """Events get increasing seqs in the order given and read back in that order."""
    biz = _id()
    seqs = [s for s in await store.append([event(biz, "a"), event(biz, "b")]) if s is not None]
    seqs += [s for s in await store.append([event(biz, "c")]) if s is not None]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    rows = await store.events_after(biz, 0, 10)
    assert texts(rows) == ["a", "b", "c"]
    assert [r.seq for r in rows] == seqs
    assert await store.append([]) == []


async def test_duplicates_are_dropped_within_and_across_calls(store: Store) -> None:
    """A repeated (channel, key) is None in the same call and in later calls."""
    biz = _id()
    first = await store.append(
        [
            event(biz, "a", channel_id="c1", dedupe_key="k"),
            event(biz, "a again", channel_id="c1", dedupe_key="k"),
            event(biz, "other channel", channel_id="c2", dedupe_key="k"),
            event(biz, "no key", channel_id="c1"),
        ]
    )
    assert first[1] is None
    assert None not in (first[0], first[2], first[3])
    later = await store.append(
        [event(biz, "late", channel_id="c1", dedupe_key="k"), event(biz, "new", channel_id="c1")]
    )
    assert later[0] is None
    assert later[1] is not None
    assert texts(await store.events_after(biz, 0, 10)) == ["a", "other channel", "no key", "new"]


async def test_concurrent_duplicates_are_stored_once(store: Store) -> None:
    """Twenty concurrent appends of one dedupe key store exactly one event."""
    biz = _id()
    results = await asyncio.gather(
        *(store.append([event(biz, str(i), channel_id="c", dedupe_key="k")]) for i in range(20))
    )
    assert sum(1 for r in results if r[0] is not None) == 1
    assert len(await store.events_after(biz, 0, 100)) == 1


async def test_concurrent_appends_count_usage_and_contacts_once_each(store: Store) -> None:
    """Appends made at once (stored together) count each stored event's usage once and
    keep the latest customer action, as one after another would."""
    biz = _id()

    def inbound(i: int) -> NewEvent:
        return dataclasses.replace(
            event(biz, str(i), channel_id="c1", customer_id="cust", dedupe_key=f"m{i % 5}"),
            inbound=True,
            timestamp_ms=1_000 + i,
            usage_metric="inbound_messages",
        )

    results = await asyncio.gather(*(store.append([inbound(i)]) for i in range(20)))
    assert [r[0] is not None for r in results] == [True] * 5 + [False] * 15
    assert texts(await store.events_after(biz, 0, 100)) == ["0", "1", "2", "3", "4"]
    rows = await store.usage(biz, "2000-01-01", "2999-12-31")
    assert [(r.channel_id, r.metric, r.value) for r in rows] == [("c1", "inbound_messages", 5.0)]
    assert await store.last_inbound("c1", "cust") == 1_004


async def test_an_append_the_database_refuses_fails_alone(store: Store) -> None:
    """Of appends made at once, one the database refuses fails; the others are stored."""
    biz = _id()
    # No kind: the column is NOT NULL.
    refused = dataclasses.replace(event(biz, "refused"), kind=None)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(store.append([event(biz, str(i), channel_id="c", dedupe_key=str(i))]) for i in range(3)),
        store.append([refused]),
        store.append([event(biz, "3", channel_id="c", dedupe_key="3")]),
        return_exceptions=True,
    )
    assert isinstance(results[3], Exception)
    assert all(isinstance(r, list) and r[0] is not None for r in results[:3] + results[4:])
    assert texts(await store.events_after(biz, 0, 100)) == ["0", "1", "2", "3"]


async def test_events_after_pages_through_the_log(store: Store) -> None:
    """Reading from a cursor in pages returns every event once, in order."""
    biz = _id()
    await store.append([event(biz, str(i)) for i in range(7)])
    seen: list[str] = []
    cursor = 0
    while page := await store.events_after(biz, cursor, 3):
        assert len(page) <= 3
        seen += texts(page)
        cursor = page[-1].seq
    assert seen == [str(i) for i in range(7)]


async def test_head_and_log_are_per_business(store: Store) -> None:
    """head is 0 for an empty log, else the last seq; businesses never see each other's events."""
    ann, bob = _id(), _id()
    assert await store.head(ann) == 0
    [a1] = await store.append([event(ann, "a1")])
    await store.append([event(bob, "b1")])
    [a2] = await store.append([event(ann, "a2")])
    assert await store.head(ann) == a2
    assert a1 is not None
    assert a2 is not None
    assert a2 > a1
    assert texts(await store.events_after(ann, 0, 10)) == ["a1", "a2"]
    assert texts(await store.events_after(bob, 0, 10)) == ["b1"]
    assert texts(await store.events_after(ann, a1, 10)) == ["a2"]


async def test_a_cursor_reader_never_skips_a_concurrent_event(store: Store) -> None:
    """A reader that follows the cursor while many appends commit sees every one of them."""
    biz = _id()
    total = 200
    done = asyncio.Event()

    async def writer(worker: int) -> None:
        for i in range(total // 10):
            await store.append([event(biz, f"{worker}:{i}")])

    async def reader() -> list[int]:
        cursor, seen = 0, []
        while True:
            finished = done.is_set()
            page = await store.events_after(biz, cursor, 50)
            seen += [r.seq for r in page]
            cursor = page[-1].seq if page else cursor
            if finished and not page:
                return seen
            await asyncio.sleep(0)

    read = asyncio.create_task(reader())
    try:
        await asyncio.gather(*(writer(w) for w in range(10)))
        done.set()
        seen = await asyncio.wait_for(read, WAIT_S)
    finally:
        read.cancel()
    assert seen == [r.seq for r in await store.events_after(biz, 0, total + 1)]
    assert len(seen) == total


async def test_customer_events_are_one_customers_thread(store: Store) -> None:
    """customer_events pages through one customer's events on one channel, in order."""
    ann, bob = _id(), _id()
    await store.append(
        [
            event(ann, "1", channel_id="c1", customer_id="cust"),
            event(ann, "other customer", channel_id="c1", customer_id="x"),
            event(ann, "2", channel_id="c1", customer_id="cust"),
            event(ann, "other channel", channel_id="c2", customer_id="cust"),
            event(ann, "system"),
            event(ann, "3", channel_id="c1", customer_id="cust"),
        ]
    )
    await store.append([event(bob, "bob's", channel_id="c3", customer_id="cust")])
    first = await store.customer_events("c1", "cust", 0, 2)
    assert texts(first) == ["1", "2"]
    assert texts(await store.customer_events("c1", "cust", first[-1].seq, 10)) == ["3"]
    assert await store.customer_events("c9", "cust", 0, 10) == []


async def test_last_inbound_is_the_latest_customer_action(store: Store) -> None:
    """last_inbound is the largest inbound timestamp; outbound events leave it alone."""
    biz = _id()
    assert await store.last_inbound("c1", "cust") is None
    await store.append(
        [
            event(biz, channel_id="c1", customer_id="cust", inbound=True, timestamp_ms=5_000),
            event(biz, channel_id="c1", customer_id="cust", inbound=True, timestamp_ms=3_000),
            event(biz, channel_id="c1", customer_id="cust", inbound=False, timestamp_ms=9_000),
            event(biz, channel_id="c1", customer_id="other", inbound=True, timestamp_ms=7_000),
        ]
    )
    assert await store.last_inbound("c1", "cust") == 5_000
    await store.append(
        [event(biz, channel_id="c1", customer_id="cust", inbound=True, timestamp_ms=6_000)]
    )
    assert await store.last_inbound("c1", "cust") == 6_000
    assert await store.last_inbound("c2", "cust") is None
    await store.append(
        [event(biz, channel_id="c3", customer_id="cust", inbound=False, timestamp_ms=1)]
    )
    assert await store.last_inbound("c3", "cust") is None


async def test_a_duplicate_inbound_event_does_not_move_last_inbound(store: Store) -> None:
    """A dropped repeat does not count as a customer action."""
    biz = _id()
    base = {"channel_id": "c1", "customer_id": "cust", "dedupe_key": "m1", "inbound": True}
    await store.append([event(biz, timestamp_ms=1_000, **base)])  # type: ignore[arg-type]
    await store.append([event(biz, timestamp_ms=2_000, **base)])  # type: ignore[arg-type]
    assert await store.last_inbound("c1", "cust") == 1_000


# ---- sends ------------------------------------------------------------------------------


async def test_claim_is_new_then_pending(store: Store) -> None:
    """The first claim owns the key; a replay sees it pending with the first fingerprint."""
    user = await business(store)
    first = await store.claim_send(user.business_id, "key-1", "fp1", "c1", None)
    assert (first.state, first.fingerprint, first.result, first.seq) == ("new", "fp1", None, None)
    assert first.send_id
    again = await store.claim_send(user.business_id, "key-1", "fp2", "c1", None)
    assert (again.send_id, again.state, again.fingerprint) == (first.send_id, "pending", "fp1")


async def test_claim_keys_are_per_business(store: Store) -> None:
    """The same idempotency key in another business is a new send."""
    ann = await business(store)
    bob = await business(store)
    await store.claim_send(ann.business_id, "key-1", "fp", "c1", None)
    assert (await store.claim_send(bob.business_id, "key-1", "fp", "c2", None)).state == "new"


async def test_finished_send_replays_its_result(store: Store) -> None:
    """finish_send appends its event and returns its seq; a replay carries result and seq."""
    user = await business(store)
    claim = await store.claim_send(user.business_id, "key-1", "fp", "c1", None)
    seq = await store.finish_send(claim.send_id, True, b"result", event(user.business_id, "sent"))
    [row] = await store.events_after(user.business_id, 0, 10)
    assert (row.seq, row.payload) == (seq, b"sent")
    replay = await store.claim_send(user.business_id, "key-1", "fp", "c1", None)
    assert (replay.send_id, replay.state, replay.result, replay.seq) == (
        claim.send_id,
        "sent",
        b"result",
        seq,
    )


async def test_failed_send_replays_its_failure(store: Store) -> None:
    """A send finished as failed replays as failed with its stored error."""
    user = await business(store)
    claim = await store.claim_send(user.business_id, "key-1", "fp", "c1", None)
    seq = await store.finish_send(claim.send_id, False, b"error", event(user.business_id))
    replay = await store.claim_send(user.business_id, "key-1", "fp", "c1", None)
    assert (replay.state, replay.result, replay.seq) == ("failed", b"error", seq)


async def test_one_automatic_reply_per_inbound_message(store: Store) -> None:
    """A second automatic claim for the same message is already_replied; other messages are not."""
    user = await business(store)
    biz = user.business_id
    assert (await store.claim_send(biz, "auto-1", "fp", "c1", "m1")).state == "new"
    taken = await store.claim_send(biz, "auto-2", "fp2", "c1", "m1")
    assert (taken.state, taken.fingerprint) == ("already_replied", "fp2")
    assert (await store.claim_send(biz, "auto-1", "fp", "c1", "m1")).state == "pending"
    assert (await store.claim_send(biz, "auto-3", "fp", "c1", "m2")).state == "new"
    assert (await store.claim_send(biz, "auto-4", "fp", "c2", "m1")).state == "new"
    assert (await store.claim_send(biz, "human-1", "fp", "c1", None)).state == "new"


async def test_concurrent_automatic_claims_have_one_winner(store: Store) -> None:
    """Of twenty concurrent automatic claims for one message exactly one owns the send."""
    user = await business(store)
    claims = await asyncio.gather(
        *(store.claim_send(user.business_id, f"auto-{i}", "fp", "c1", "m1") for i in range(20))
    )
    assert sorted(c.state for c in claims) == ["already_replied"] * 19 + ["new"]


async def test_released_claim_frees_key_and_reply_slot(store: Store) -> None:
    """After release_send the same key, and the automatic-reply slot, can be claimed again."""
    user = await business(store)
    first = await store.claim_send(user.business_id, "auto-1", "fp", "c1", "m1")
    await store.release_send(first.send_id)
    again = await store.claim_send(user.business_id, "auto-1", "fp", "c1", "m1")
    assert again.state == "new"
    assert again.send_id != first.send_id
    await store.release_send(again.send_id)
    assert (await store.claim_send(user.business_id, "auto-2", "fp", "c1", "m1")).state == "new"


# ---- deleting a channel ---------------------------------------------------------------


async def test_deleting_a_channel_erases_its_traces(store: Store) -> None:
    """Its events, dedupe keys, contacts and sends go; other channels and system events stay."""
    user = await business(store)
    biz = user.business_id
    gone = await channel(store, biz)
    kept = await channel(store, biz)
    await store.append(
        [
            event(biz, "gone", channel_id=gone, customer_id="c", dedupe_key="m1", inbound=True),
            event(biz, "system"),
            event(biz, "kept", channel_id=kept, customer_id="c", dedupe_key="m1", inbound=True),
        ]
    )
    claim = await store.claim_send(biz, "auto-1", "fp", gone, "m1")
    assert await store.delete_channel(biz, gone, event(biz, "farewell"))
    assert await store.channel(biz, gone) is None
    assert await store.channel_by_id(gone) is None
    assert texts(await store.events_after(biz, 0, 10)) == ["system", "kept", "farewell"]
    assert await store.last_inbound(gone, "c") is None
    assert await store.last_inbound(kept, "c") is not None
    again = await store.claim_send(biz, "auto-1", "fp", gone, "m1")
    assert (again.state, again.send_id != claim.send_id) == ("new", True)
    assert not await store.delete_channel(biz, gone, event(biz, "twice"))
    assert "twice" not in texts(await store.events_after(biz, 0, 10))


async def test_a_deleted_channels_dedupe_keys_are_forgotten(store: Store) -> None:
    """Once a channel is gone, an event with one of its old keys is stored again."""
    user = await business(store)
    channel_id = await channel(store, user.business_id)
    [seq] = await store.append([event(user.business_id, channel_id=channel_id, dedupe_key="k")])
    assert seq is not None
    assert await store.delete_channel(user.business_id, channel_id, None)
    [again] = await store.append([event(user.business_id, channel_id=channel_id, dedupe_key="k")])
    assert again is not None


# ---- usage ------------------------------------------------------------------------------

DAY_MS = 86_400_000
NOV_29 = 1_795_910_400_000  # 2026-11-29T00:00:00Z


async def test_usage_adds_up_per_day_channel_and_metric(store: Store) -> None:
    """Counters add within a UTC day and stay apart across days, channels and metrics."""
    biz = _id()
    await store.add_usage(biz, "c1", {"replies": 1, "tokens": 250.5}, NOV_29 + 10)
    await store.add_usage(biz, "c1", {"replies": 2}, NOV_29 + DAY_MS - 1)
    await store.add_usage(biz, "", {"replies": 1}, NOV_29)
    await store.add_usage(biz, "c1", {"replies": 4}, NOV_29 + DAY_MS)
    await store.add_usage(_id(), "c1", {"replies": 9}, NOV_29)
    rows = await store.usage(biz, "2026-11-29", "2026-11-30")
    assert [(r.day, r.channel_id, r.metric, r.value) for r in rows] == [
        ("2026-11-29", "", "replies", 1.0),
        ("2026-11-29", "c1", "replies", 3.0),
        ("2026-11-29", "c1", "tokens", 250.5),
        ("2026-11-30", "c1", "replies", 4.0),
    ]
    assert [r.day for r in await store.usage(biz, "2026-11-30", "2026-11-30")] == ["2026-11-30"]
    assert await store.usage(biz, "2026-12-01", "2026-12-31") == []


async def test_concurrent_usage_additions_are_all_counted(store: Store) -> None:
    """Twenty concurrent additions to the same counters lose nothing."""
    biz = _id()
    await asyncio.gather(
        *(store.add_usage(biz, "c1", {"b": 1, "a": 0.5}, NOV_29) for _ in range(20))
    )
    rows = await store.usage(biz, "2026-11-29", "2026-11-29")
    assert {r.metric: r.value for r in rows} == {"a": 10.0, "b": 20.0}


async def test_stored_events_count_their_usage_metric_once(store: Store) -> None:
    """An event with a usage metric adds one when stored and nothing when a duplicate."""
    biz = _id()
    counted = NewEvent(
        id=_id(),
        business_id=biz,
        kind="message_received",
        payload=b"x",
        timestamp_ms=1,
        channel_id="c1",
        dedupe_key="m1",
        usage_metric="inbound_messages",
    )
    await store.append([counted, counted, event(biz, channel_id="c1")])
    await store.append([counted])
    rows = await store.usage(biz, "2000-01-01", "2999-12-31")
    assert [(r.channel_id, r.metric, r.value) for r in rows] == [("c1", "inbound_messages", 1.0)]


async def test_a_warning_is_claimed_once_per_business(store: Store) -> None:
    """claim_warning is true only the first time for a business and key."""
    ann, bob = _id(), _id()
    assert await store.claim_warning(ann, "2026-11:80")
    assert not await store.claim_warning(ann, "2026-11:80")
    assert await store.claim_warning(ann, "2026-11:100")
    assert await store.claim_warning(bob, "2026-11:80")


# ---- commit listeners -------------------------------------------------------------------


async def test_listeners_hear_which_businesses_have_news(store: Store) -> None:
    """Listeners get the ids of businesses with new events, once append returns."""
    heard: list[set[str]] = []
    store.on_commit(heard.append)
    ann, bob = _id(), _id()
    await store.append([event(ann, channel_id="c", dedupe_key="k"), event(bob)])
    assert heard[-1] == {ann, bob}
    await store.append([event(ann, channel_id="c", dedupe_key="k"), event(bob)])
    assert heard[-1] == {bob}
    assert all(ids <= {ann, bob} for ids in heard)


async def test_listeners_hear_sends_and_farewells(store: Store) -> None:
    """finish_send and delete_channel with a farewell wake listeners for their business."""
    user = await business(store)
    biz = user.business_id
    heard: list[set[str]] = []
    store.on_commit(heard.append)
    claim = await store.claim_send(biz, "key-1", "fp", "c1", None)
    await store.finish_send(claim.send_id, True, b"ok", event(biz))
    assert heard[-1] == {biz}
    heard.clear()
    channel_id = await channel(store, biz)
    await store.delete_channel(biz, channel_id, event(biz, "farewell"))
    assert heard[-1] == {biz}


# ---- PostgreSQL: several processes --------------------------------------------------


async def _woken(queue: asyncio.Queue[set[str]], business_id: str) -> None:
    while business_id not in await queue.get():
        pass


@pytest.mark.postgres
async def test_a_commit_in_another_process_wakes_listeners(pg_dsn: str) -> None:
    """An append through store B reaches a listener on store A through NOTIFY."""
    a = await PostgresStore.open(pg_dsn)
    b = await PostgresStore.open(pg_dsn)
    try:
        queue: asyncio.Queue[set[str]] = asyncio.Queue()
        a.on_commit(queue.put_nowait)
        biz = _id()
        await b.append([event(biz, "from b")])
        await asyncio.wait_for(_woken(queue, biz), WAIT_S)
        assert texts(await a.events_after(biz, 0, 10)) == ["from b"]
    finally:
        await b.close()
        await a.close()


@pytest.mark.postgres
async def test_own_commits_are_heard_once(pg_dsn: str) -> None:
    """A store's own NOTIFY does not call its listeners a second time."""
    a = await PostgresStore.open(pg_dsn)
    b = await PostgresStore.open(pg_dsn)
    try:
        heard: list[set[str]] = []
        queue: asyncio.Queue[set[str]] = asyncio.Queue()
        a.on_commit(heard.append)
        a.on_commit(queue.put_nowait)
        mine, marker = _id(), _id()
        await a.append([event(mine)])
        # Notifications arrive in commit order: once B's marker is heard, A's own is too.
        await b.append([event(marker)])
        await asyncio.wait_for(_woken(queue, marker), WAIT_S)
        assert heard == [{mine}, {marker}]
    finally:
        await b.close()
        await a.close()


@pytest.mark.postgres
async def test_two_processes_store_one_webhook_once(pg_dsn: str) -> None:
    """The same dedupe key appended concurrently through two stores is stored once."""
    a = await PostgresStore.open(pg_dsn)
    b = await PostgresStore.open(pg_dsn)
    try:
        biz = _id()
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).append([event(biz, str(i), channel_id="c", dedupe_key="k")])
                for i in range(20)
            )
        )
        assert sum(1 for r in results if r[0] is not None) == 1
        assert len(await a.events_after(biz, 0, 100)) == 1
    finally:
        await b.close()
        await a.close()


@pytest.mark.postgres
async def test_two_processes_number_one_business_in_commit_order(pg_dsn: str) -> None:
    """Appends of one business through two stores get distinct, gapless, ordered seqs."""
    a = await PostgresStore.open(pg_dsn)
    b = await PostgresStore.open(pg_dsn)
    try:
        biz = _id()
        results = await asyncio.gather(
            *((a if i % 2 else b).append([event(biz, str(i))]) for i in range(40))
        )
        seqs = sorted(s for [s] in results if s is not None)
        assert seqs == list(range(1, 41))
        assert await b.head(biz) == 40
    finally:
        await b.close()
        await a.close()


@pytest.mark.postgres
async def test_listening_resumes_after_the_connection_drops(pg_dsn: str) -> None:
    """When the server ends the LISTEN connection, the store reconnects and hears again."""
    a = await PostgresStore.open(pg_dsn)
    b = await PostgresStore.open(pg_dsn)
    admin = await asyncpg.connect(pg_dsn)
    try:
        queue: asyncio.Queue[set[str]] = asyncio.Queue()
        a.on_commit(queue.put_nowait)
        listening = (
            "SELECT pid FROM pg_stat_activity"
            " WHERE query = 'LISTEN \"clientora_events\"' AND pid <> pg_backend_pid()"
        )
        before = {r["pid"] for r in await admin.fetch(listening)}
        assert before
        await admin.execute(f"SELECT pg_terminate_backend(pid) FROM ({listening}) AS l")

        async def relistened() -> None:
            while True:  # both stores' new LISTEN connections are up
                if len({r["pid"] for r in await admin.fetch(listening)} - before) == 2:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(relistened(), WAIT_S)
        biz = _id()
        await b.append([event(biz)])
        await asyncio.wait_for(_woken(queue, biz), WAIT_S)
    finally:
        await admin.close()
        await b.close()
        await a.close()


@pytest.mark.postgres
async def test_stores_opened_at_once_create_the_schema_once(pg_dsn: str) -> None:
    """Processes starting together on an empty database all open and share the tables."""
    stores = await asyncio.gather(*(PostgresStore.open(pg_dsn) for _ in range(4)))
    try:
        biz = _id()
        await stores[0].append([event(biz, "x")])
        assert [await s.head(biz) for s in stores] == [1, 1, 1, 1]
    finally:
        for s in stores:
            await s.close()


@pytest.mark.postgres
async def test_open_store_opens_postgres_urls(pg_dsn: str) -> None:
    """open_store gives a PostgresStore for postgresql:// and postgres:// URLs."""
    for url in (pg_dsn, pg_dsn.replace("postgresql://", "postgres://", 1)):
        opened = await open_store(url)
        try:
            assert isinstance(opened, PostgresStore)
        finally:
            await opened.close()


# ---- erasure ------------------------------------------------------------------------------


def key_of(kind: str, payload: bytes) -> str | None:
    """These tests store an event's dedupe key as ``k-<its text>``."""
    return f"k-{payload.decode()}" if kind == "message_received" else None


async def test_erasing_a_customer_removes_their_traces_only(store: Store) -> None:
    """Their events, contact, dedupe keys and sends on that channel go; everything else stays."""
    user = await business(store)
    biz = user.business_id
    shop = await channel(store, biz)
    other = await channel(store, biz)

    def said(text: str, customer: str, where: str = shop) -> NewEvent:
        return event(
            biz, text, channel_id=where, customer_id=customer, dedupe_key=f"k-{text}", inbound=True
        )

    await store.append([said("a1", "cust-1"), said("b1", "cust-2"), event(biz, "system")])
    await store.append([said("a2", "cust-1", other)])
    # A key that embeds the id but whose event is not in the log any more.
    await store.append([event(biz, "x", channel_id=shop, dedupe_key="webchat:cust-1:old")])
    claim = await store.claim_send(biz, "send-1", "fp", shop, None)
    await store.finish_send(claim.send_id, True, b"ok", said("reply", "cust-1"))
    notice = event(biz, "erased")
    row = await store.erase_customer(biz, shop, "cust-1", "req-1", notice, key_of)
    assert row is not None
    assert (row.events, row.contacts, row.dedupe_keys, row.sends) == (2, 1, 3, 1)
    assert (row.business_name, row.platform, row.channel_name) == ("Shop", "messenger", "Page")
    assert texts(await store.events_after(biz, 0, 10)) == ["b1", "system", "a2", "x", "erased"]
    assert await store.last_inbound(shop, "cust-1") is None
    assert await store.last_inbound(other, "cust-1") is not None
    assert await store.customer_events(shop, "cust-1", 0, 10) == []
    [again] = await store.append([said("a1", "cust-1")])
    assert again is not None
    assert await store.append([said("b1", "cust-2"), said("a2", "cust-1", other)]) == [None, None]
    assert (await store.claim_send(biz, "send-1", "fp", shop, None)).state == "new"
    assert await store.erasure(biz, "req-1") == row
    assert await store.erasure(_id(), "req-1") is None


async def test_erasing_on_another_businesss_channel_does_nothing(store: Store) -> None:
    """A channel of another business is refused (None) and nothing of it is touched."""
    ann = await business(store)
    bob = await business(store)
    shop = await channel(store, ann.business_id)
    await store.append(
        [event(ann.business_id, "a", channel_id=shop, customer_id="c", inbound=True)]
    )
    notice = event(bob.business_id, "erased")
    assert await store.erase_customer(bob.business_id, shop, "c", "req-1", notice, key_of) is None
    assert texts(await store.events_after(ann.business_id, 0, 10)) == ["a"]
    assert await store.events_after(bob.business_id, 0, 10) == []
    assert await store.erasure(bob.business_id, "req-1") is None


async def test_an_erasure_needs_a_customer_id(store: Store) -> None:
    """An empty customer id would match every key: it is refused outright."""
    user = await business(store)
    shop = await channel(store, user.business_id)
    with pytest.raises(ValueError, match="customer id"):
        await store.erase_customer(user.business_id, shop, "", "r", event(user.business_id), key_of)


async def test_erasure_confirmations_are_per_business_and_first_wins(store: Store) -> None:
    """Only the business's own devices confirm its erasures; a second report is ignored."""
    ann = await business(store)
    bob = await business(store)
    laptop = await store.create_device(ann.business_id, "Laptop")
    intruder = await store.create_device(bob.business_id, "Other")
    shop = await channel(store, ann.business_id)
    await store.erase_customer(ann.business_id, shop, "c", "req-1", event(ann.business_id), key_of)
    assert await store.confirm_erasure(ann.business_id, "req-1", laptop.id, b'{"n":1}', 5)
    assert await store.confirm_erasure(ann.business_id, "req-1", laptop.id, b'{"n":9}', 6)
    assert not await store.confirm_erasure(bob.business_id, "req-1", intruder.id, b"{}", 7)
    assert not await store.confirm_erasure(ann.business_id, "req-1", intruder.id, b"{}", 7)
    assert not await store.confirm_erasure(ann.business_id, "nope", laptop.id, b"{}", 7)
    rows = await store.erasure_confirmations(ann.business_id, "req-1")
    assert [(r.device_id, r.device_name, r.confirmed_at_ms, r.counts) for r in rows] == [
        (laptop.id, "Laptop", 5, b'{"n":1}')
    ]
    assert await store.erasure_confirmations(bob.business_id, "req-1") == []


async def test_channels_with_a_customer_are_found_across_businesses(store: Store) -> None:
    """A platform deletion request finds every channel, of any business, that holds the id."""
    ann = await business(store)
    bob = await business(store)
    a = await channel(store, ann.business_id)
    b = await channel(store, bob.business_id)
    c = await channel(store, bob.business_id)
    await store.append(
        [
            event(ann.business_id, "1", channel_id=a, customer_id="u-1", inbound=True),
            event(bob.business_id, "2", channel_id=c, customer_id="u-2"),
        ]
    )
    await store.append([event(bob.business_id, "3", channel_id=b, customer_id="u-1")])
    found = await store.channels_with_customer("u-1", ["messenger", "instagram"])
    assert sorted(row.id for row in found) == sorted([a, b])
    assert await store.channels_with_customer("u-1", ["whatsapp"]) == []
    assert await store.channels_with_customer("nobody", ["messenger"]) == []


async def test_deletion_requests_and_their_erasures_are_found_by_code(store: Store) -> None:
    """A deletion request's summary and the erasures it caused are found by its code."""
    user = await business(store)
    shop = await channel(store, user.business_id)
    row = await store.erase_customer(
        user.business_id, shop, "c", "req-1", event(user.business_id), key_of, "CODE1"
    )
    await store.add_deletion_request(DeletionRequestRow("CODE1", 1_000, 1, 0))
    assert await store.deletion_request("CODE1") == DeletionRequestRow("CODE1", 1_000, 1, 0)
    assert await store.deletion_request("CODE2") is None
    assert await store.erasures_for_request("CODE1") == [row]
    assert await store.erasures_for_request("CODE2") == []


async def test_deleting_a_business_erases_all_of_it(store: Store) -> None:
    """Users, sessions, devices, channels, events, keys, sends, usage and erasures all go."""
    ann = await business(store, "ann@example.com")
    bob = await business(store)
    biz = ann.business_id
    await store.create_session("tok", ann, 10**15)
    await store.create_session("bob-tok", bob, 10**15)
    device = await store.create_device(biz, "Laptop")
    shop = await channel(store, biz, "PAGE-A")
    kept = await channel(store, bob.business_id)
    await store.append(
        [
            event(biz, "a", channel_id=shop, customer_id="c", dedupe_key="k", inbound=True),
            event(bob.business_id, "b", channel_id=kept, customer_id="c", inbound=True),
        ]
    )
    await store.add_usage(biz, shop, {"inbound_messages": 1}, NOV_29)
    await store.claim_send(biz, "send-1", "fp", shop, None)
    await store.claim_warning(biz, "2026-11:80")
    await store.erase_customer(biz, shop, "x", "req-1", event(biz), key_of)
    assert await store.delete_business(biz)
    assert await store.user_by_email("ann@example.com") is None
    assert await store.session("tok", 0) is None
    assert await store.device(biz, device.id) is None
    assert await store.channels(biz) == []
    assert await store.channel_by_id(shop) is None
    assert await store.events_after(biz, 0, 10) == []
    assert await store.head(biz) == 0
    assert await store.last_inbound(shop, "c") is None
    assert await store.usage(biz, "2000-01-01", "2999-12-31") == []
    assert await store.erasure(biz, "req-1") is None
    assert await store.claim_warning(biz, "2026-11:80")
    assert not await store.delete_business(biz)
    # The other business is untouched, and the e-mail and page can be used again.
    assert await store.session("bob-tok", 0) is not None
    assert texts(await store.events_after(bob.business_id, 0, 10)) == ["b"]
    again = await business(store, "ann@example.com")
    await channel(store, again.business_id, "PAGE-A")
    [seq] = await store.append([event(again.business_id, channel_id=shop, dedupe_key="k")])
    assert seq is not None


async def test_listeners_hear_erasures_and_deleted_accounts(store: Store) -> None:
    """An erasure's event and a deleted account wake the business's listeners."""
    user = await business(store)
    biz = user.business_id
    shop = await channel(store, biz)
    heard: list[set[str]] = []
    store.on_commit(heard.append)
    await store.erase_customer(biz, shop, "c", "req-1", event(biz), key_of)
    assert heard[-1] == {biz}
    heard.clear()
    await store.delete_business(biz)
    assert heard[-1] == {biz}


# ---- retention ----------------------------------------------------------------------------

FAR_PAST = 0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def cutoffs(
    acked: int = FAR_PAST, unacked: int = FAR_PAST, keys: int = FAR_PAST, contacts: int = FAR_PAST
) -> RetentionCutoffs:
    return RetentionCutoffs(
        acked_before_ms=acked,
        unacked_before_ms=unacked,
        keys_before_ms=keys,
        contacts_before_ms=contacts,
    )


async def test_events_every_device_acknowledged_expire(store: Store) -> None:
    """Past the cutoff, events at or below every device's cursor go; the rest wait."""
    user = await business(store)
    biz = user.business_id
    first = await store.create_device(biz, "Laptop")
    second = await store.create_device(biz, "Phone")
    seqs = [s for s in await store.append([event(biz, t) for t in ("1", "2", "3")]) if s]
    await store.advance_cursor(biz, first.id, seqs[2])
    await store.advance_cursor(biz, second.id, seqs[1])
    later = wall_ms() + 1_000
    assert await store.expire(cutoffs(acked=FAR_PAST), 100) == RetentionCounts()
    assert await store.expire(cutoffs(acked=later), 100) == RetentionCounts(acked_events=2)
    assert texts(await store.events_after(biz, 0, 10)) == ["3"]
    assert await store.expire(cutoffs(acked=later, unacked=later), 100) == RetentionCounts(
        unacked_events=1
    )
    assert await store.events_after(biz, 0, 10) == []


async def test_a_business_without_devices_keeps_its_events_until_the_unacked_cutoff(
    store: Store,
) -> None:
    """With no device to acknowledge them, events wait for the never-acknowledged cutoff."""
    user = await business(store)
    biz = user.business_id
    await store.append([event(biz, "waiting")])
    later = wall_ms() + 1_000
    assert await store.expire(cutoffs(acked=later), 100) == RetentionCounts()
    assert texts(await store.events_after(biz, 0, 10)) == ["waiting"]
    assert (await store.expire(cutoffs(unacked=later), 100)).unacked_events == 1


async def test_retention_deletes_in_small_batches(store: Store) -> None:
    """A batch smaller than the backlog still removes all of it, batch after batch."""
    user = await business(store)
    biz = user.business_id
    device = await store.create_device(biz, "Laptop")
    seqs = [s for s in await store.append([event(biz, str(i)) for i in range(7)]) if s]
    await store.advance_cursor(biz, device.id, seqs[-1])
    counts = await store.expire(cutoffs(acked=wall_ms() + 1_000), 2)
    assert counts.acked_events == 7
    assert await store.events_after(biz, 0, 10) == []


async def test_keys_sends_and_contacts_expire(store: Store) -> None:
    """Old dedupe keys, send keys and window contacts go; a repeat is then stored again."""
    user = await business(store)
    biz = user.business_id
    shop = await channel(store, biz)
    await store.append(
        [event(biz, "a", channel_id=shop, customer_id="c", dedupe_key="k", inbound=True)]
    )
    await store.claim_send(biz, "send-1", "fp", shop, "m1")
    later = wall_ms() + 1_000
    assert await store.expire(cutoffs(), 100) == RetentionCounts()
    counts = await store.expire(cutoffs(keys=later, contacts=1_001), 100)
    assert counts == RetentionCounts(dedupe_keys=1, sends=1, contacts=1)
    assert await store.last_inbound(shop, "c") is None
    assert (await store.claim_send(biz, "send-1", "fp", shop, "m1")).state == "new"
    [seq] = await store.append([event(biz, "a", channel_id=shop, dedupe_key="k")])
    assert seq is not None


# ---- channel onboarding and health (relay/onboarding.py, relay/health.py) ---------------


def login_row(business_id: str, *, state: str = "s", expires_at_ms: int = 10**13) -> MetaLoginRow:
    return MetaLoginRow(
        id=_id(),
        business_id=business_id,
        device_id="dev",
        state_hash=f"hash-{state}-{_id()}",
        status="pending",
        message=None,
        key_id="",
        listing=None,
        created_at_ms=wall_ms(),
        expires_at_ms=expires_at_ms,
    )


async def test_a_login_state_is_claimed_once(store: Store) -> None:
    """Two claims of one state: the first gets the row, marked used; the second nothing."""
    biz = (await business(store)).business_id
    row = login_row(biz)
    await store.create_meta_login(row)
    claims = await asyncio.gather(
        store.claim_meta_login(row.state_hash, wall_ms()),
        store.claim_meta_login(row.state_hash, wall_ms()),
    )
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].id == row.id and won[0].state_used
    found = await store.meta_login_by_state(row.state_hash)
    assert found is not None and found.state_used
    assert await store.claim_meta_login("hash-unknown", wall_ms()) is None


async def test_an_expired_login_cannot_be_claimed_and_is_swept(store: Store) -> None:
    """Past its time a state is refused; the sweep (and the next login) removes it."""
    biz = (await business(store)).business_id
    old = login_row(biz, expires_at_ms=wall_ms() - 1)
    await store.create_meta_login(old)
    assert await store.claim_meta_login(old.state_hash, wall_ms()) is None
    assert await store.expire_meta_logins(wall_ms()) == 1
    assert await store.meta_login(biz, old.id) is None
    stale = login_row(biz, expires_at_ms=wall_ms() - 1)
    await store.create_meta_login(stale)
    await store.create_meta_login(login_row(biz))
    assert await store.meta_login(biz, stale.id) is None


async def test_a_login_is_read_and_updated_within_its_business(store: Store) -> None:
    """The listing is stored as given; another business cannot read the login."""
    biz = (await business(store)).business_id
    other = (await business(store)).business_id
    row = login_row(biz)
    await store.create_meta_login(row)
    await store.update_meta_login(row.id, "ready", None, "k1", b"\x00sealed", 10**13 + 5)
    found = await store.meta_login(biz, row.id)
    assert found is not None
    assert (found.status, found.key_id, found.listing, found.expires_at_ms) == (
        "ready",
        "k1",
        b"\x00sealed",
        10**13 + 5,
    )
    assert "sealed" not in repr(found)
    assert await store.meta_login(other, row.id) is None


async def test_channel_health_keeps_checks_and_moves_activity_forward(store: Store) -> None:
    """Checks are replaced; last event only moves forward; the newest send wins; rows of
    unknown channels are not made."""
    biz = (await business(store)).business_id
    shop = await channel(store, biz)
    await store.save_channel_health(
        ChannelHealthRow(shop, biz, node_id="PAGE", avatar_url="a.jpg", checks=b"{}")
    )
    await store.record_channel_activity({shop: 2_000, "nope": 5}, {shop: (3_000, False, "x")})
    await store.record_channel_activity({shop: 1_000}, {shop: (2_500, True, None)})
    await store.save_channel_health(
        ChannelHealthRow(shop, biz, node_id="PAGE", avatar_url="b.jpg", checks=b'{"t":1}')
    )
    row = await store.channel_health(biz, shop)
    assert row is not None
    assert (row.avatar_url, row.checks, row.last_event_at_ms) == ("b.jpg", b'{"t":1}', 2_000)
    assert (row.last_send_at_ms, row.last_send_ok, row.last_send_error) == (3_000, False, "x")
    assert [h.channel_id for h in await store.channels_health(biz)] == [shop]
    other = (await business(store)).business_id
    assert await store.channel_health(other, shop) is None
    await store.save_channel_health(ChannelHealthRow(shop, other, checks=b"{}"))
    assert await store.channels_health(other) == []


async def test_channels_on_a_node_and_forgetting_health(store: Store) -> None:
    """Channels sharing a Page are found; health rows go with their channel."""
    biz = (await business(store)).business_id
    first, second = await channel(store, biz), await channel(store, biz)
    for shop in (first, second):
        await store.save_channel_health(ChannelHealthRow(shop, biz, node_id="PAGE-1"))
    assert await store.channels_on_node("PAGE-1") == sorted([first, second])
    await store.delete_channel(biz, first, None)
    assert await store.channels_on_node("PAGE-1") == [second]
    assert await store.forget_channel_health(None) == 1
    assert await store.forget_channel_health(second) == 1
    assert await store.channels_on_node("PAGE-1") == []


async def test_deleting_a_business_takes_its_logins_and_health(store: Store) -> None:
    """Account deletion leaves no sign-in (its sealed tokens) and no health row behind."""
    biz = (await business(store)).business_id
    shop = await channel(store, biz)
    row = login_row(biz)
    await store.create_meta_login(row)
    await store.save_channel_health(ChannelHealthRow(shop, biz, node_id="PAGE-2"))
    assert await store.delete_business(biz)
    assert await store.meta_login_by_state(row.state_hash) is None
    assert await store.channels_on_node("PAGE-2") == []
    assert await store.forget_channel_health(None) == 0
