"""The extractive drafter answers only from a clearly matching FAQ or offer, else hands off."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest

from desktop.core.drafting import BusinessProfile, DraftRequest, ExtractiveDrafter, Turn
from desktop.core.drafting.extractive import NO_MATCH_REASON, faq_answer
from desktop.core.drafting.handoff import ASKED_FOR_PERSON
from desktop.core.kb.models import SearchHit

PROFILE = BusinessProfile(
    name="Arta Shop",
    handoff_message="Një koleg do t'ju përgjigjet së shpejti.",
    away_message="Jemi të mbyllur.",
)
DELIVERY_SQ = SearchHit(
    chunk_id="faq-delivery-sq#0",
    item_id="faq-delivery-sq",
    item_type="faq",
    title="Sa kushton dërgesa?",
    text="Dërgesa në gjithë Kosovën kushton 2 €, falas për porosi mbi 30 €.",
    score=7.1,
)
HOURS_EN = SearchHit(
    chunk_id="faq-hours-en#0",
    item_id="faq-hours-en",
    item_type="faq",
    title="What are your opening hours?",
    text="Q: What are your opening hours?\nA: We are open Monday to Saturday, 9:00–20:00.",
    score=5.0,
)
DELIVERY_SR = SearchHit(
    chunk_id="faq-delivery-sr#0",
    item_id="faq-delivery-sr",
    item_type="faq",
    title="Dostava",
    text="Dostava na teritoriji Kosova košta 2 €, besplatna je za porudžbine preko 30 €.",
    heading_path=("Dostava i plaćanje",),
    score=6.2,
)
JACKET_OFFER = SearchHit(
    chunk_id="offer-jacket#0",
    item_id="offer-jacket",
    item_type="offer",
    title="Winter jacket Nordic",
    text="Black down jacket, sizes S–XL. Price 49 € (was 79 €). Valid until 31 Dec 2026.",
    score=4.4,
)
GUIDE_DOC = SearchHit(
    chunk_id="doc-sizes#3",
    item_id="doc-sizes",
    item_type="document",
    title="Size guide",
    text="Jackets: measure your chest; size M fits 96–100 cm.",
    score=9.0,
)
ALL_HITS = (DELIVERY_SQ, HOURS_EN, DELIVERY_SR, JACKET_OFFER, GUIDE_DOC)


def make_request(text: str, hits: Sequence[SearchHit] = ALL_HITS) -> DraftRequest:
    turns = [Turn(role="customer", text=text, timestamp_ms=1_780_000_000_000)]
    return DraftRequest(profile=PROFILE, platform="whatsapp", turns=turns, hits=hits)


async def test_clearly_matching_faq_is_answered_verbatim() -> None:
    """An Albanian question matching an Albanian FAQ gets that FAQ's answer, cited."""
    draft = await ExtractiveDrafter().draft(make_request("Përshëndetje, sa kushton dërgesa?"))
    assert draft.reply == DELIVERY_SQ.text
    assert draft.cited_chunk_ids == ("faq-delivery-sq#0",)
    assert (draft.grounded, draft.handoff, draft.drafter, draft.language) == (
        True,
        False,
        "extractive",
        "sq",
    )
    assert 0.6 <= draft.confidence <= 0.85


async def test_serbian_question_finds_the_serbian_faq() -> None:
    """A Serbian question (inflected: "dostave") matches the Serbian FAQ by its title."""
    draft = await ExtractiveDrafter().draft(make_request("Kolika je cena dostave?"))
    assert draft.cited_chunk_ids == ("faq-delivery-sr#0",)
    assert draft.reply.startswith("Dostava na teritoriji Kosova")


async def test_qa_labels_are_removed_from_faq_answers() -> None:
    """A FAQ stored as "Q: ... A: ..." is answered with the answer part only."""
    draft = await ExtractiveDrafter().draft(
        make_request("What are your opening hours on Saturday?")
    )
    assert draft.cited_chunk_ids == ("faq-hours-en#0",)
    assert draft.reply == "We are open Monday to Saturday, 9:00–20:00."
    assert faq_answer(HOURS_EN) == draft.reply
    repeated = msgspec.structs.replace(DELIVERY_SQ, text="Sa kushton dërgesa?\nKushton 2 €.")
    assert faq_answer(repeated) == "Kushton 2 €."
    assert faq_answer(DELIVERY_SR) == DELIVERY_SR.text  # begins with its title's word only


async def test_matching_offer_is_answered_with_title_price_and_validity() -> None:
    """A question about an offered product gets the offer's title, description, price, validity."""
    draft = await ExtractiveDrafter().draft(make_request("Is the Nordic winter jacket on sale?"))
    assert draft.cited_chunk_ids == ("offer-jacket#0",)
    assert draft.reply.startswith("Winter jacket Nordic\n")
    assert "49 €" in draft.reply
    assert "Valid until 31 Dec 2026" in draft.reply


@pytest.mark.parametrize(
    "text",
    [
        "A keni parking afër dyqanit?",
        "Do you repair phones?",
        "Da li primate kriptovalute?",
        "Përshëndetje!",
    ],
)
async def test_unrelated_questions_hand_off(text: str) -> None:
    """Nothing clearly matching: the shop's hand-off message, no citation, no invention."""
    draft = await ExtractiveDrafter().draft(make_request(text))
    assert draft.handoff
    assert draft.handoff_reason == NO_MATCH_REASON
    assert draft.reply == PROFILE.handoff_message
    assert draft.cited_chunk_ids == ()
    assert not draft.grounded


async def test_documents_are_not_quoted() -> None:
    """Only FAQs and offers are quoted; a matching document chunk alone is a hand-off."""
    draft = await ExtractiveDrafter().draft(
        make_request("What size jacket for a 98 cm chest?", hits=[GUIDE_DOC])
    )
    assert draft.handoff


async def test_answer_in_another_language_is_less_confident() -> None:
    """An English question answered by the only (Albanian) FAQ is drafted with lower confidence."""
    sq_only = await ExtractiveDrafter().draft(make_request("Sa kushton dërgesa?", [DELIVERY_SQ]))
    bilingual = SearchHit(
        chunk_id="faq-delivery-mixed#0",
        item_id="faq-delivery-mixed",
        item_type="faq",
        title="Dërgesa / Delivery",
        text="Dërgesa kushton 2 € në gjithë Kosovën.",
    )
    en = await ExtractiveDrafter().draft(make_request("How much is the delivery?", [bilingual]))
    assert not en.handoff
    assert en.language == "sq"
    assert en.confidence < sq_only.confidence


async def test_asking_for_a_person_hands_off_first() -> None:
    """A request for a person hands off even when a FAQ would match."""
    draft = await ExtractiveDrafter().draft(make_request("dua të flas me një njeri për dërgesën"))
    assert draft.handoff_reason == ASKED_FOR_PERSON


async def test_refund_hands_off_first() -> None:
    """A refund request hands off even when a FAQ would match."""
    draft = await ExtractiveDrafter().draft(make_request("Dua rimbursim për dërgesën"))
    assert draft.handoff_reason == "handoff topic: refund"


async def test_offer_labels_follow_the_customers_language() -> None:
    """An offer's price and dates are labelled in Albanian or Serbian (Cyrillic too)."""
    from desktop.core.drafting.extractive import offer_answer
    from desktop.core.kb.models import SearchHit

    hit = SearchHit(
        chunk_id="c1",
        item_id="o1",
        item_type="offer",
        title="Fustan veror",
        text="Fustan prej liri.\nPrice: 34.90 €\nValid: 2026-06-01 to 2026-08-31",
    )
    assert offer_answer(hit, "sq").splitlines()[2:] == [
        "Çmimi: 34.90 €",
        "Vlen: 2026-06-01 deri më 2026-08-31",
    ]
    assert offer_answer(hit, "sr").splitlines()[2] == "Cena: 34.90 €"
    assert offer_answer(hit, "sr", cyrillic=True).splitlines()[2] == "Цена: 34.90 €"
    assert offer_answer(hit, "en").splitlines()[2] == "Price: 34.90 €"
