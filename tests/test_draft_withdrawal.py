"""Drafts follow the conversation: a stale draft is withdrawn with its reason, never sent twice;
the results figures count what was stored."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from desktop.core.drafting.config import ModelPrice
from desktop.core.local_usage import local_usage, own_key
from desktop.core.settings import AppSettings
from desktop.core.store import DraftNotPending, NewDraft, Store
from desktop.core.store.drafts import ANSWERED_BY_HAND, NEWER_MESSAGE, SAME_TEXT_SENT
from tests.test_desktop_store import T0, apply, only_conversation_id, received, sent, store

__all__ = ["store"]

HANDOFF = "Thank you! A member of our team will answer you shortly."


async def _draft(store: Store, conversation_id: int, text: str, **more: object) -> int:
    (latest, *_) = reversed(await store.messages(conversation_id))
    new = NewDraft(
        conversation_id=conversation_id,
        text=text,
        drafter="extractive",
        for_message_id=latest.id,
        **more,  # type: ignore[arg-type]
    )
    return (await store.add_draft(new)).id


async def _state(store: Store, draft_id: int) -> tuple[str, str | None]:
    draft = await store.draft(draft_id)
    assert draft is not None
    return draft.state, draft.withdrawn_reason


async def test_a_reply_by_hand_withdraws_the_draft(store: Store) -> None:
    """The owner writes the answer: the draft is withdrawn, saying so, and cannot be approved."""
    await apply(store, received("A keni çanta?", "m1"))
    cid = await only_conversation_id(store)
    draft_id = await _draft(store, cid, "Po, i kemi.")
    await store.queue_outbound(cid, "Po, 45 €.", idempotency_key="k1", author="owner")
    assert await _state(store, draft_id) == ("superseded", ANSWERED_BY_HAND)
    assert await store.pending_drafts() == []
    with pytest.raises(DraftNotPending):
        await store.queue_outbound(
            cid, "Po, i kemi.", idempotency_key="k2", author="owner", draft_id=draft_id
        )


async def test_a_reply_from_the_platforms_own_app_withdraws_the_draft(store: Store) -> None:
    """A reply sent elsewhere (another device, the Page inbox) counts as answered by hand."""
    await apply(store, received("A keni çanta?", "m1"))
    cid = await only_conversation_id(store)
    draft_id = await _draft(store, cid, "Po, i kemi.")
    await apply(store, sent("Po!", "s-1", "mid-out-1"))
    assert await _state(store, draft_id) == ("superseded", ANSWERED_BY_HAND)


async def test_a_newer_customer_message_withdraws_the_older_draft(store: Store) -> None:
    """The customer wrote again before anyone answered: the older draft no longer fits."""
    await apply(store, received("A keni çanta?", "m1"))
    cid = await only_conversation_id(store)
    draft_id = await _draft(store, cid, "Po, i kemi.")
    await apply(store, received("Të zeza?", "m2", ts=10))
    assert await _state(store, draft_id) == ("superseded", NEWER_MESSAGE)


async def test_the_same_text_sent_automatically_withdraws_the_draft(store: Store) -> None:
    """A text the assistant already sent on its own is withdrawn, so one click cannot send
    it a second time; a hand-off keeps its place in the queue without those words; a draft
    with other words stays as it was."""
    await apply(store, received("Dua një njeri", "m1"))
    cid = await only_conversation_id(store)
    kept = await _draft(store, cid, "Something else entirely.", handoff=True)
    await store.queue_outbound(
        cid, HANDOFF, idempotency_key="a1", author="assistant", automatic=True
    )
    assert await _state(store, kept) == ("pending", None)
    same = await _draft(store, cid, "We open at 9.")
    await store.queue_outbound(
        cid, "  We open\nat 9.", idempotency_key="a2", author="assistant", automatic=True
    )
    assert await _state(store, same) == ("superseded", SAME_TEXT_SENT)
    handoff = await _draft(store, cid, HANDOFF, handoff=True)
    await store.queue_outbound(
        cid, HANDOFF, idempotency_key="a3", author="assistant", automatic=True
    )
    waiting = await store.draft(handoff)
    assert waiting is not None
    assert (waiting.state, waiting.text, waiting.withdrawn_reason) == (
        "pending",
        "",
        SAME_TEXT_SENT,
    )
    (still,) = await store.expiring_conversations(now=T0 + 60_000)  # waits for a person
    assert still.id == cid
    assert still.needs_person  # the list's "Needs a person" filter and chip
    await store.queue_outbound(cid, "Po, ju ndihmoj unë.", idempotency_key="h1", author="owner")
    answered = await store.conversation(cid)
    assert answered is not None and not answered.needs_person


async def test_approving_sends_once_and_leaves_no_draft(store: Store) -> None:
    """Approving links one message to the draft; a second approval is refused."""
    await apply(store, received("A keni çanta?", "m1"))
    cid = await only_conversation_id(store)
    draft_id = await _draft(store, cid, "Po, i kemi.")
    await store.queue_outbound(
        cid, "Po, i kemi.", idempotency_key="d1", author="owner", draft_id=draft_id
    )
    assert (await _state(store, draft_id))[0] == "approved"
    with pytest.raises(DraftNotPending):
        await store.queue_outbound(
            cid, "Po, i kemi.", idempotency_key="d2", author="owner", draft_id=draft_id
        )
    outbound = [m for m in await store.messages(cid) if m.direction == "out"]
    assert [m.draft_id for m in outbound] == [draft_id]


async def test_results_count_answers_hand_offs_and_automatic_replies(store: Store) -> None:
    """Answered by the assistant: an automatic reply, no reply by a person, no hand-off;
    the hand-off notice is not an answer."""
    await apply(
        store,
        received("A keni çanta?", "m1", customer="A"),
        received("Sa kushton?", "m2", customer="B"),
        received("Dua një njeri", "m3", customer="C"),
        received("Hello", "m4", customer="D"),
    )
    ids = {c.customer.platform_id: c.id for c in await store.list_conversations()}
    for who, text in (("A", "Po."), ("B", "45 €.")):
        draft_id = await _draft(store, ids[who], text)
        await store.queue_outbound(
            ids[who],
            text,
            idempotency_key=f"auto-{who}",
            author="assistant",
            automatic=True,
            draft_id=draft_id,
        )
    handoff = await _draft(store, ids["C"], HANDOFF, handoff=True)
    await store.queue_outbound(
        ids["C"], HANDOFF, idempotency_key="auto-C", author="assistant", automatic=True
    )
    await store.queue_outbound(ids["D"], "Hi!", idempotency_key="hand-D", author="owner")
    stats = await store.assistant_stats()
    assert stats.conversations == 4
    assert stats.answered_by_assistant == 2
    assert stats.auto_replies == 2
    assert stats.handed_off == 1
    assert await _state(store, handoff) == ("pending", SAME_TEXT_SENT)


def test_own_key_usage_is_priced_locally_and_unknown_prices_named() -> None:
    """Tokens from the drafts add up per day and month; a model without a price is named."""
    prices = {"gpt-4o-mini": ModelPrice(input=0.15, output=0.6)}
    day = datetime(2026, 12, 3, 12).timestamp() * 1000
    earlier = datetime(2026, 11, 30, 12).timestamp() * 1000
    usage = local_usage(
        [
            (int(day), "gpt-4o-mini", 1000, 200, 0.0),
            (int(day), "my-local-llama", 500, 50, 0.0),
            (int(earlier), "gpt-4o-mini", 1_000_000, 0, 0.15),
        ],
        date(2026, 12, 4),
        prices,
    )
    assert usage.days["2026-12-03"][0] == 1750
    assert usage.days["2026-12-03"][1] == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    assert usage.month_tokens == 1750
    assert usage.days["2026-11-30"] == (1_000_000, 0.15)
    assert usage.unpriced == ("my-local-llama",)
    settings = AppSettings()
    assert not own_key(settings)
    from msgspec.structs import replace

    assert own_key(replace(settings, ai=replace(settings.ai, api_key="sk-mine")))
    gateway = replace(settings.ai, base_url="https://relay.example.com/ai/v1", api_key="t")
    assert not own_key(replace(settings, ai=gateway))
