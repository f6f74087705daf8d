"""The extractive drafter answers from what the shop wrote when likely right, else hands off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import msgspec
import pytest

from desktop.core.drafting import BusinessProfile, DraftRequest, ExtractiveDrafter, Turn
from desktop.core.drafting.confidence import ANSWER_AT
from desktop.core.drafting.extractive import (
    NO_MATCH_REASON,
    PARTLY_REASON,
    faq_answer,
    in_script,
)
from desktop.core.drafting.handoff import ASKED_FOR_PERSON
from desktop.core.drafting.matching import candidates, split_questions
from desktop.core.drafting.messages import LEAD_INS, CannedMessages
from desktop.core.drafting.offers import format_date, offer_sentence
from desktop.core.kb.models import SearchHit

PROFILE = BusinessProfile(
    name="Arta Shop",
    messages={
        "sq": CannedMessages(
            handoff="Një koleg do t'ju përgjigjet së shpejti.",
            away="Jemi të mbyllur.",
            courtesy="Faleminderit, ju përgjigjemi së shpejti.",
            limit="Faleminderit, një koleg ju përgjigjet sa më shpejt.",
        )
    },
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
    text="Black down jacket, sizes S–XL.\nPrice: 49 €\nValid until: 2026-12-31",
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


def first(hit: SearchHit, *others: SearchHit) -> list[SearchHit]:
    """Hits as the search returns them: ``hit`` ranked first, scores falling."""
    ordered = [hit, *(h for h in (others or ALL_HITS) if h is not hit)]
    return [
        msgspec.structs.replace(h, score=10.0 if i == 0 else 5.0 - i) for i, h in enumerate(ordered)
    ]


async def test_clearly_matching_faq_is_answered_verbatim() -> None:
    """An Albanian question matching an Albanian FAQ gets that FAQ's answer, cited."""
    request = make_request("Përshëndetje, sa kushton dërgesa?", first(DELIVERY_SQ))
    draft = await ExtractiveDrafter().draft(request)
    assert draft.reply == DELIVERY_SQ.text
    assert draft.cited_chunk_ids == ("faq-delivery-sq#0",)
    assert (draft.grounded, draft.handoff, draft.drafter, draft.language) == (
        True,
        False,
        "extractive",
        "sq",
    )
    assert ANSWER_AT <= draft.confidence <= 1


async def test_typed_without_diacritics_or_inflected_the_faq_is_found() -> None:
    """ "dergesen" (no ë, another case) and Serbian "dostave" match their FAQs."""
    sq = await ExtractiveDrafter().draft(make_request("sa kushton dergesen", first(DELIVERY_SQ)))
    assert sq.cited_chunk_ids == ("faq-delivery-sq#0",)
    sr = await ExtractiveDrafter().draft(
        make_request("Kolika je cena dostave?", first(DELIVERY_SR))
    )
    assert sr.cited_chunk_ids == ("faq-delivery-sr#0",)
    assert sr.reply.startswith("Dostava na teritoriji Kosova")


async def test_a_cyrillic_question_gets_the_latin_answer_in_cyrillic() -> None:
    """The answer follows the customer's script, both ways; brand names stay Latin."""
    cyrillic = await ExtractiveDrafter().draft(
        make_request("Колико кошта достава?", first(DELIVERY_SR))
    )
    assert cyrillic.cited_chunk_ids == ("faq-delivery-sr#0",)
    assert cyrillic.reply.startswith("Достава на територији Косова кошта 2 €")
    hit = msgspec.structs.replace(DELIVERY_SR, text="Достава кошта 2 €, за iPhone пакет 3 €.")
    latin = await ExtractiveDrafter().draft(make_request("Koliko kosta dostava?", first(hit)))
    assert latin.reply == "Dostava košta 2 €, za iPhone paket 3 €."
    assert in_script(hit.text, "en") == latin.reply  # a reader of English gets Latin letters
    assert in_script(hit.text, "sr-Cyrl") == hit.text


async def test_qa_labels_are_removed_from_faq_answers() -> None:
    """A FAQ stored as "Q: ... A: ..." is answered with the answer part only."""
    draft = await ExtractiveDrafter().draft(
        make_request("What are your opening hours on Saturday?", first(HOURS_EN))
    )
    assert draft.cited_chunk_ids == ("faq-hours-en#0",)
    assert draft.reply == "We are open Monday to Saturday, 9:00–20:00."
    assert faq_answer(HOURS_EN) == draft.reply
    repeated = msgspec.structs.replace(DELIVERY_SQ, text="Sa kushton dërgesa?\nKushton 2 €.")
    assert faq_answer(repeated) == "Kushton 2 €."
    assert faq_answer(DELIVERY_SR) == DELIVERY_SR.text  # begins with its title's word only


async def test_matching_offer_is_told_as_a_sentence() -> None:
    """An offer is one sentence with its price and end date the customer's way."""
    draft = await ExtractiveDrafter().draft(
        make_request("Is the Nordic winter jacket on sale?", first(JACKET_OFFER))
    )
    assert draft.cited_chunk_ids == ("offer-jacket#0",)
    assert draft.reply == (
        "Winter jacket Nordic: Black down jacket, sizes S–XL. It costs 49 € until 31 December 2026."
    )


def test_offers_and_dates_follow_the_customers_language() -> None:
    """Albanian, Serbian Latin and Cyrillic, Italian, German: their words and date forms."""
    hit = SearchHit(
        chunk_id="c1",
        item_id="o1",
        item_type="offer",
        title="Fustan veror",
        text="Fustan prej liri.\nPrice: 34.90 €\nValid: 2026-06-01 to 2026-08-31",
    )
    assert offer_sentence(hit, "sq") == (
        "Fustan veror: Fustan prej liri. Kushton 34.90 € nga 01.06.2026 deri më 31.08.2026."
    )
    assert offer_sentence(hit, "sr-Latn").endswith("Košta 34.90 € od 1. 6. 2026. do 31. 8. 2026.")
    assert "Кошта 34.90 € од" in offer_sentence(hit, "sr-Cyrl")
    assert format_date(date(2026, 12, 4), "it") == "4/12/2026"
    assert format_date(date(2026, 12, 4), "de") == "04.12.2026"
    bare = msgspec.structs.replace(hit, text="Fustan prej liri.\nValid until: 2026-08-31")
    assert offer_sentence(bare, "sq").endswith("Vlen deri më 31.08.2026.")
    assert offer_sentence(msgspec.structs.replace(hit, text=""), "en") == "Fustan veror."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A keni parking afër dyqanit?", "Një koleg do t'ju përgjigjet së shpejti."),
        ("Do you repair phones?", "Thank you! A member of our team will answer you shortly."),
        ("Da li primate kriptovalute?", "Hvala! Neko iz našeg tima će vam uskoro odgovoriti."),
        ("Да ли примате криптовалуте?", "Хвала! Неко из нашег тима ће вам ускоро одговорити."),
        ("Përshëndetje!", "Një koleg do t'ju përgjigjet së shpejti."),
    ],
)
async def test_unrelated_questions_hand_off_in_the_customers_language(
    text: str, expected: str
) -> None:
    """Nothing clearly matching: the hand-off message in the customer's language and script."""
    draft = await ExtractiveDrafter().draft(make_request(text))
    assert draft.handoff
    assert draft.handoff_reason == NO_MATCH_REASON
    assert draft.reply == expected
    assert draft.cited_chunk_ids == ()
    assert not draft.grounded
    assert draft.confidence == 0


async def test_documents_are_quoted_with_their_source() -> None:
    """A document chunk that answers gives the sentences that answer, and where they are from."""
    guide = msgspec.structs.replace(
        GUIDE_DOC,
        text="Our sizes follow EU tables. Jackets: measure your chest; size M fits 96–100 cm. "
        "Shoes run small.",
        page=3,
    )
    draft = await ExtractiveDrafter().draft(
        make_request("Which jacket size fits a 98 cm chest?", hits=[guide])
    )
    assert not draft.handoff
    assert draft.cited_chunk_ids == ("doc-sizes#3",)
    assert draft.reply == "Jackets: measure your chest; size M fits 96–100 cm. (Size guide, p. 3)"


async def test_two_questions_one_answered_the_other_handed_off_in_one_reply() -> None:
    """Each question is answered where the shop wrote an answer; the rest goes to a person."""
    request = make_request(
        "Sa kushton dërgesa? A keni kriptovaluta për shitje?", first(DELIVERY_SQ)
    )
    draft = await ExtractiveDrafter().draft(request)
    assert draft.reply == f"{DELIVERY_SQ.text}\n\n{PROFILE.message('handoff', 'sq')}"
    assert draft.cited_chunk_ids == ("faq-delivery-sq#0",)
    assert draft.handoff and draft.handoff_reason == PARTLY_REASON


async def test_asking_for_a_person_hands_off_first() -> None:
    """A request for a person hands off even when a FAQ would match."""
    draft = await ExtractiveDrafter().draft(make_request("dua të flas me një njeri për dërgesën"))
    assert draft.handoff_reason == ASKED_FOR_PERSON


async def test_refund_hands_off_first() -> None:
    """A refund request hands off even when a FAQ would match."""
    draft = await ExtractiveDrafter().draft(make_request("Dua rimbursim për dërgesën"))
    assert draft.handoff_reason == "handoff topic: refund"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "Da li primate evre? Imam samo evre pošto dolazim sa Kosova",
            ["Da li primate evre? Imam samo evre pošto dolazim sa Kosova"],
        ),
        (
            "Telefon mi je pao u vodu\nmožete li da ga popravite",
            ["Telefon mi je pao u vodu možete li da ga popravite"],
        ),
        ("kolko kosta ekran\nkad mogu da dođem", ["kolko kosta ekran", "kad mogu da dođem"]),
        ("Sa kushton dërgesa? A keni parking?", ["Sa kushton dërgesa?", "A keni parking?"]),
        ("Hi!\nWhat are your hours?\nThanks", ["What are your hours?"]),
    ],
)
def test_a_message_is_split_into_the_questions_it_asks(text: str, parts: list[str]) -> None:
    """Each question is a part, with or without "?"; a remark or statement that asks nothing
    stays with its question as context; greetings and thanks are dropped."""
    assert split_questions(text) == parts


def test_title_words_count_the_customers_own_words_only() -> None:
    """A title matched through a translation counts for coverage but not as the customer's
    own title words (the confidence map weighs the two differently)."""
    sq, en = candidates("delivery price dërgesa", [DELIVERY_SQ, HOURS_EN])
    assert sq.hit is DELIVERY_SQ
    assert sq.title_words == 1  # "dërgesa"; "price"/"delivery" only through translations
    assert sq.coverage > sq.title_words / sq.terms
    assert en.title_words == 0


async def test_an_answer_in_another_language_is_led_in_in_the_customers() -> None:
    """An English question answered from an Albanian FAQ quotes the shop's Albanian words
    behind a lead-in in English; an Albanian question gets the answer alone."""
    english = await ExtractiveDrafter().draft(
        make_request("How much does delivery cost?", first(DELIVERY_SQ))
    )
    assert not english.handoff
    assert english.reply == f"{LEAD_INS['en']}\n\n{DELIVERY_SQ.text}"
    albanian = await ExtractiveDrafter().draft(
        make_request("Sa kushton dërgesa?", first(DELIVERY_SQ))
    )
    assert albanian.reply == DELIVERY_SQ.text
