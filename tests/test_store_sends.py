"""Send claims carry a lease: a claim its owner never settled turns ``unknown``, on both stores."""

from __future__ import annotations

from relay.store import Store


async def _business(store: Store) -> str:
    user = await store.create_business("Shop", "Owner", "owner@example.com", "hash")
    await store.create_channel(user.business_id, "c1", "messenger", "PAGE1", "Page", "k1", b"x")
    return user.business_id


async def test_a_claim_within_its_lease_is_pending(store: Store) -> None:
    """While the first request may still be sending, the same key waits (``pending``)."""
    biz = await _business(store)
    assert (await store.claim_send(biz, "key-1", "fp", "c1", None, lease_ms=60_000)).state == "new"
    assert (await store.claim_send(biz, "key-1", "fp", "c1", None)).state == "pending"


async def test_a_claim_past_its_lease_has_an_unknown_outcome(store: Store) -> None:
    """A claim whose owner crashed or hung is never taken as new again (it may have gone
    out): the key answers ``unknown``, and a settled outcome still wins afterwards."""
    biz = await _business(store)
    first = await store.claim_send(biz, "key-1", "fp", "c1", "mid-1", lease_ms=0)
    assert first.state == "new"
    again = await store.claim_send(biz, "key-1", "fp", "c1", "mid-1")
    assert (again.state, again.send_id) == ("unknown", first.send_id)
    other = await store.claim_send(biz, "key-2", "fp", "c1", "mid-1")
    assert other.state == "already_replied"  # the inbound message stays claimed
    await store.release_send(first.send_id)
    assert (await store.claim_send(biz, "key-1", "fp", "c1", "mid-1")).state == "new"
