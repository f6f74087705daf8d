"""Items of the knowledge base: add, edit, delete keep chunks in step; offers' dates apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import lancedb
import pytest

from desktop.core.kb import FaqInput, ItemNotFoundError, KnowledgeBase, KnowledgeBaseError
from desktop.core.kb.store import TABLE

TODAY = date(2026, 6, 15)


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    base = await KnowledgeBase.open(tmp_path / "kb")
    yield base
    await base.close()


async def chunk_items(path: Path) -> list[str]:
    """item_id of every stored chunk, read straight from LanceDB."""
    db = await lancedb.connect_async(str(path / "lance"))
    table = await db.open_table(TABLE)
    rows = await table.query().select(["item_id"]).to_list()
    return sorted(r["item_id"] for r in rows)


async def test_add_edit_delete_keep_chunks_in_step(kb: KnowledgeBase) -> None:
    """Each item has exactly its chunks after every add, edit and delete."""
    faq = await kb.add_faq("A bëni dërgesa në Prizren?", "Po, dërgesa në Prizren zgjat 1 ditë.")
    offer = await kb.add_offer("Zbritje dimri", "Xhaketat me 30% zbritje.", price="49 €")
    assert await chunk_items(kb.path) == sorted([faq, offer])

    await kb.update_faq(faq, answer="Po, dërgesa në Prizren zgjat 2 ditë.")
    assert await chunk_items(kb.path) == sorted([faq, offer])
    hits = await kb.search("dërgesa Prizren")
    assert [h.text for h in hits] == ["Po, dërgesa në Prizren zgjat 2 ditë."]

    info = await kb.update_offer(offer, price=None)
    assert info.price is None
    hits = await kb.search("xhaketat")
    assert hits[0].item_id == offer
    assert "Price" not in hits[0].text

    assert await kb.delete_item(faq)
    assert not await kb.delete_item(faq)
    assert await chunk_items(kb.path) == [offer]
    assert await kb.search("Prizren") == []
    assert [i.item_id for i in await kb.list_items()] == [offer]


async def test_chunk_id_is_stable_while_text_is_unchanged(kb: KnowledgeBase) -> None:
    """Re-saving identical text keeps the chunk id; changing the text changes it."""
    faq = await kb.add_faq("Orari?", "Hapur 9-17.")
    first = (await kb.search("orari"))[0].chunk_id
    await kb.update_faq(faq, answer="Hapur 9-17.")
    assert (await kb.search("orari"))[0].chunk_id == first
    await kb.update_faq(faq, answer="Hapur 8-18.")
    assert (await kb.search("orari"))[0].chunk_id != first


async def test_list_and_get_items(kb: KnowledgeBase) -> None:
    """Items come back with their type-specific fields."""
    faq = await kb.add_faq("Q?", "A.", ["Question again?"], tags=["x"])
    offer = await kb.add_offer(
        "Offer", "Desc.", price="5 €", valid_from=TODAY, valid_until=TODAY + timedelta(days=3)
    )
    faq_info = await kb.get_item(faq)
    assert faq_info is not None
    assert (faq_info.item_type, faq_info.title, faq_info.text) == ("faq", "Q?", "A.")
    assert faq_info.alternatives == ("Question again?",)
    assert faq_info.tags == ("x",)
    assert faq_info.chunks == 1
    offer_info = await kb.get_item(offer)
    assert offer_info is not None
    assert (offer_info.price, offer_info.valid_until) == ("5 €", TODAY + timedelta(days=3))
    assert [i.item_id for i in await kb.list_items("offer")] == [offer]
    assert await kb.get_item("missing") is None


async def test_expired_and_future_offers_are_never_returned(kb: KnowledgeBase) -> None:
    """Only offers valid on the search day are found; open-ended ones always are."""
    await kb.add_offer("Patika verore", "Patika me zbritje.", valid_until=TODAY - timedelta(days=1))
    await kb.add_offer("Patika vjeshte", "Patika të reja.", valid_from=TODAY + timedelta(days=1))
    current = await kb.add_offer(
        "Patika dimri", "Patika të ngrohta.", valid_from=TODAY, valid_until=TODAY
    )
    always = await kb.add_offer("Patika klasike", "Patika çdo ditë.")
    hits = await kb.search("patika", today=TODAY)
    assert sorted(h.item_id for h in hits) == sorted([current, always])
    later = await kb.search("patika", today=TODAY + timedelta(days=2))
    assert {h.title for h in later} == {"Patika vjeshte", "Patika klasike"}


async def test_offer_hit_text_carries_price_and_dates(kb: KnowledgeBase) -> None:
    """The drafter sees price and validity in the offer's chunk text."""
    await kb.add_offer("Kafe", "Kafe turke.", price="1 €", valid_until=TODAY)
    hit = (await kb.search("kafe", today=TODAY))[0]
    assert hit.text == f"Kafe turke.\nPrice: 1 €\nValid until: {TODAY.isoformat()}"


async def test_bad_arguments_are_refused(kb: KnowledgeBase) -> None:
    """Empty FAQs, nameless offers and edits of the wrong item are clear errors."""
    with pytest.raises(ValueError, match="question and an answer"):
        await kb.add_faq("  ", "answer")
    with pytest.raises(ValueError, match="end before it starts"):
        await kb.add_offer("x", "y", valid_from=TODAY, valid_until=TODAY - timedelta(days=1))
    offer = await kb.add_offer("x", "y")
    with pytest.raises(ValueError, match="is a offer, not a faq"):
        await kb.update_faq(offer, answer="z")
    with pytest.raises(ItemNotFoundError):
        await kb.update_offer("nope", title="t")


async def test_bulk_add_replaces_existing_ids(kb: KnowledgeBase) -> None:
    """add_faqs keeps given ids; importing the same ids again replaces, not duplicates."""
    rows = [
        FaqInput(question=f"Pyetja {i}?", answer=f"Përgjigja {i}.", item_id=f"f{i}")
        for i in range(50)
    ]
    assert await kb.add_faqs(rows, batch_size=20) == [f"f{i}" for i in range(50)]
    await kb.add_faqs([FaqInput(question="Pyetja 7?", answer="E re.", item_id="f7")])
    items = await chunk_items(kb.path)
    assert len(items) == 50
    assert len(set(items)) == 50
    hit = (await kb.search("pyetja 7 e re"))[0]
    assert (hit.item_id, hit.text) == ("f7", "E re.")


async def test_reopen_keeps_items_and_removes_orphan_chunks(tmp_path: Path) -> None:
    """Items survive a reopen; chunks whose item is missing (a crash mid-write) are dropped."""
    kb = await KnowledgeBase.open(tmp_path / "kb")
    faq = await kb.add_faq("Parkim?", "Kemi parkim falas.")
    await kb.close()
    # A crash between the LanceDB write and the catalog write leaves a chunk without item.
    db = await lancedb.connect_async(str(tmp_path / "kb" / "lance"))
    table = await db.open_table(TABLE)
    row = (await table.query().limit(1).to_list())[0]
    await table.add([{**row, "chunk_id": "ghost#1", "item_id": "ghost"}])
    table.close()  # type: ignore[no-untyped-call]
    kb = await KnowledgeBase.open(tmp_path / "kb")
    try:
        assert await chunk_items(tmp_path / "kb") == [faq]
        assert [h.item_id for h in await kb.search("parkim")] == [faq]
    finally:
        await kb.close()


async def test_closed_base_refuses_work(tmp_path: Path) -> None:
    """After close() every call says the base is closed."""
    kb = await KnowledgeBase.open(tmp_path / "kb")
    await kb.close()
    await kb.close()
    with pytest.raises(KnowledgeBaseError, match="closed"):
        await kb.search("x")


async def test_a_cited_chunk_can_be_read_back_by_its_id(tmp_path: Path) -> None:
    """The passage a draft cites is found by its chunk id, and is gone once its item is."""
    kb = await KnowledgeBase.open(tmp_path / "kb")
    try:
        item_id = await kb.add_faq("A bëni dërgesa?", "Po, në gjithë Kosovën për 2 €.")
        (hit,) = await kb.search("dërgesa", k=1)
        again = await kb.chunk(hit.chunk_id)
        assert again is not None and again.text == hit.text and again.item_id == item_id
        assert await kb.chunk("no-such-chunk") is None
        assert await kb.chunk("it's") is None
        await kb.delete_item(item_id)
        assert await kb.chunk(hit.chunk_id) is None
    finally:
        await kb.close()
