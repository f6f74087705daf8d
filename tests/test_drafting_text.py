"""Language detection, PII masking, hand-off intents and trimming on realistic messages."""

from __future__ import annotations

import pytest

from desktop.core.drafting import (
    detect_language,
    handoff_topic,
    mask_pii,
    promises_follow_up,
    restore_pii,
    wants_human,
)
from desktop.core.drafting.text import fold, trim_to_limit

ALBANIAN = [
    "Përshëndetje, sa kushton dërgesa në Prizren?",
    "A e keni këtë model në size M?",
    "pershendetje a e keni ne ngjyre te zeze",
    "Sa kushton kjo çantë?",
    "Faleminderit shumë, ju lutem ma rezervoni",
    "kur jeni hapur neser?",
    "dua te porosis 2 cope, a bon me pagese cash?",
    "A mund ta paguaj me kartelë?",
    "Mirëdita, a keni zbritje këtë javë?",
    "ok faleminderit, e pres porosinë",
    "Sa ditë zgjat transporti deri në Ferizaj?",
    "Hi, a e keni online shop-in edhe per Shqiperi?",
]
SERBIAN = [
    "Zdravo, koliko košta dostava do Prištine?",
    "Kolko je shipping do Prizrena?",
    "Да ли имате ову јакну у величини L?",
    "Hvala puno, vidimo se!",
    "Hoću da naručim dve majice",
    "kada radite sutra",
    "Imate li popust za studente?",
    "Здраво, колико кошта ова торба?",
    "Da li mogu da platim karticom?",
    "Poslao sam poruku juče, ništa od odgovora",
    "Добар дан, где се налази ваша продавница?",
    "jel imate free delivery za Gračanicu?",
]
ENGLISH = [
    "Hi, how much is delivery to Prishtina?",
    "Do you have this in size M?",
    "thanks a lot!",
    "When are you open tomorrow?",
    "Can I pay by card when it arrives?",
    "Hello, is the red dress still available?",
    "I ordered two shirts last week, where is my order?",
    "What are your opening hours on Sunday?",
    "Is there a discount for students?",
    "hey do u ship to Germany",
    "Good morning, I would like to book a table for 4",
]


@pytest.mark.parametrize("text", ALBANIAN)
def test_albanian_messages_are_detected(text: str) -> None:
    """Albanian with or without ë/ç, and with English words mixed in, reads as "sq"."""
    assert detect_language(text) == "sq"


@pytest.mark.parametrize("text", SERBIAN)
def test_serbian_messages_are_detected_in_both_scripts(text: str) -> None:
    """Serbian in Latin (with or without č ć š ž) and in Cyrillic reads as "sr"."""
    assert detect_language(text) == "sr"


@pytest.mark.parametrize("text", ENGLISH)
def test_english_messages_are_detected(text: str) -> None:
    """Short English customer messages read as "en"."""
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok", "und"),
        ("👍", "und"),
        ("+383 44 123 456", "und"),
        ("", "und"),
        ("Hallo, wie viel kostet das bitte?", "de"),
        ("Привет, сколько это стоит?", "ru"),
    ],
)
def test_messages_without_a_clear_language(text: str, expected: str) -> None:
    """Messages with no language marks are "und"; other languages get their own code."""
    assert detect_language(text) == expected


def test_fold_joins_scripts_and_drops_diacritics() -> None:
    """Folding makes Cyrillic and Latin Serbian, and Albanian with or without ë, compare equal."""
    assert fold("Повраћај Новца") == fold("povraćaj novca") == "povracaj novca"
    assert fold("Dërgesë ÇMIMI") == "dergese cmimi"
    assert fold("Đorđe") == "djordje"


def test_mask_pii_replaces_phones_emails_and_cards() -> None:
    """Kosovo and international phones, e-mails and Luhn-valid cards become placeholders."""
    text = (
        "Më thirrni në +383 44 123 456 ose 044-123-456, nga Zvicra +41 79 123 45 67. "
        "Email: Arta.K@gmail.com. Kartela 4111 1111 1111 1111."
    )
    masked, mapping = mask_pii(text)
    assert masked == (
        "Më thirrni në [PHONE_1] ose [PHONE_2], nga Zvicra [PHONE_3]. "
        "Email: [EMAIL_1]. Kartela [CARD_1]."
    )
    assert mapping["[PHONE_1]"] == "+383 44 123 456"
    assert mapping["[EMAIL_1]"] == "Arta.K@gmail.com"
    assert mapping["[CARD_1]"] == "4111 1111 1111 1111"


@pytest.mark.parametrize(
    "text",
    [
        "Porosia nr. 123456789 u dërgua më 01/05/2026",
        "Cena je 25.50 €, a popust 10%",
        "Card 4111 1111 1111 1112 is not Luhn-valid",
        "Radimo od 09:00 do 20:00, 2 x 100 kom",
    ],
)
def test_mask_pii_leaves_prices_dates_and_order_numbers(text: str) -> None:
    """Prices, dates, times, order numbers and non-Luhn digit runs are not personal data."""
    masked, mapping = mask_pii(text)
    assert masked == text
    assert mapping == {}


def test_mask_pii_reuses_a_placeholder_for_the_same_value() -> None:
    """The same e-mail written twice gets one placeholder, so the text stays coherent."""
    masked, mapping = mask_pii("a@b.com dhe përsëri A@B.com, tel 044123456 / 044 123 456")
    assert masked == "[EMAIL_1] dhe përsëri [EMAIL_1], tel [PHONE_1] / [PHONE_1]"
    assert len(mapping) == 2


def test_restore_pii_brings_back_contacts_but_only_last_card_digits() -> None:
    """Phones and e-mails come back in full; a card number only as its last four digits."""
    _, mapping = mask_pii("+383 44 123 456, x@y.org, 5555 5555 5555 4444")
    restored = restore_pii("Tel [PHONE_1], mail [EMAIL_1], card [CARD_1], [PHONE_9]", mapping)
    assert restored == "Tel +383 44 123 456, mail x@y.org, card **** 4444, [PHONE_9]"


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a person",
        "Can I speak with a real human please?",
        "agent",
        "Operator pls",
        "dua të flas me një njeri",
        "A mund të flas me dikë nga dyqani?",
        "lidhmeni me një operator ju lutem",
        "hoću da pričam sa čovekom",
        "хоћу да причам са човеком",
        "Mogu li da razgovaram sa nekim iz prodavnice?",
        "treba mi živa osoba, ne bot",
    ],
)
def test_requests_for_a_person_are_recognised(text: str) -> None:
    """Asking for a person in English, Albanian or Serbian (either script) is recognised."""
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "Do you sell travel agent bags?",
        "Kam një pyetje lidhur me porosinë time personale",
        "Koliko osoba staje u šator?",
        "Sa njerëz punojnë në dyqan? thjesht kurioz",
        "How much is the personalised mug?",
    ],
)
def test_ordinary_questions_do_not_ask_for_a_person(text: str) -> None:
    """Words like "agent", "person" or "osoba" in ordinary questions are not a hand-off."""
    assert not wants_human(text)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Dua rimbursim për porosinë", "refund"),
        ("kur do ta kem kthimin e parave?", "refund"),
        ("Želim povraćaj novca", "refund"),
        ("Тражим повраћај новца за јакну", "refund"),
        ("I want a refund", "refund"),
        ("Kam një ankesë për shërbimin", "complaint"),
        ("Imam žalbu na dostavu", "complaint"),
        ("Ово је жалба", "complaint"),
        ("I'd like to file a complaint", "complaint"),
    ],
)
def test_handoff_topics_match_in_three_languages(text: str, topic: str) -> None:
    """Refund and complaint keywords are found in Albanian, Serbian (both scripts), English."""
    assert handoff_topic(text, ("refund", "complaint")) == topic


def test_unknown_handoff_topic_matches_its_own_words() -> None:
    """A topic the module does not know is matched by its words, folded."""
    assert handoff_topic("Do you sell wholesale?", ("refund", "wholesale")) == "wholesale"
    assert handoff_topic("Sa kushton dërgesa?", ("refund", "complaint", "wholesale")) is None


@pytest.mark.parametrize(
    ("reply", "promises"),
    [
        ("I'll call you tomorrow to confirm.", True),
        ("We will check and get back to you.", True),
        ("Do t'ju telefonojmë nesër.", True),
        ("Javićemo vam se sutra.", True),
        ("Проверићемо и јавићемо вам.", True),
        ("Delivery takes 2 days and costs 2 €.", False),
        ("Dërgesa kushton 2 € dhe zgjat 2 ditë.", False),
        ("Dostava košta 2 € i traje dva dana.", False),
    ],
)
def test_follow_up_promises_are_recognised(reply: str, promises: bool) -> None:
    """Promises of a call-back or a later check are caught; plain facts are not."""
    assert promises_follow_up(reply) is promises


def test_trim_ends_at_a_sentence_boundary() -> None:
    """A long text is cut after the last full sentence that fits."""
    text = "First sentence is here. Second one is a bit longer! Third never fits here."
    assert trim_to_limit(text, 60) == "First sentence is here. Second one is a bit longer!"
    assert trim_to_limit(text, 500) == text


def test_trim_without_sentence_end_cuts_at_a_word() -> None:
    """Without a sentence end in reach, the cut is at a space and marked with an ellipsis."""
    trimmed = trim_to_limit("word " * 100, 50)
    assert len(trimmed) <= 50
    assert trimmed.endswith("word…")
