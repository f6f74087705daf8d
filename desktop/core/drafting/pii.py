"""Masking of personal data before customer text leaves the machine: phone numbers, e-mail
addresses, card numbers, IBANs, street addresses and personal ID numbers.

Measured on a labelled set (tests/test_drafting_pii.py): every positive of the set masked,
and no price, date, time, order number or size.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PiiMasker", "mask_pii", "restore_pii"]

_EMAIL: Final = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")
# IBAN: country, check digits, 11-30 letters or digits, optionally in groups of four.
_IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
# 13–19 digits, optionally grouped by single spaces or dashes (Luhn-checked afterwards).
_CARD: Final = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
# Digits with spaces, dashes, slashes or brackets between; kept only if they start like a
# phone number (see _phone) and have 8–15 digits. Dots are not separators, so prices and
# dates ("01.05.2026", "1.500") are left alone.
_PHONE: Final = re.compile(r"(?<![\w+#])(?:\+|\(\+?)?\d(?:[ \-/()]{0,2}\d){6,17}(?![\w])")
_DATE: Final = re.compile(r"^\d{1,4}[/-]\d{1,2}[/-]\d{2,4}$")
# Calling codes of the region and of where its diaspora lives, for numbers typed without
# "+" or "00" ("38349111222").
_CALLING_CODES: Final = (
    "383", "381", "355", "389", "382", "385", "387", "386", "359", "30", "90", "49", "41",
    "43", "39", "33", "44", "46", "47", "45", "31", "32", "1",
)  # fmt: skip
# Words right before a number that make it an order, invoice or tracking number.
_ORDER_WORDS: Final = re.compile(
    r"(?:order|invoice|tracking|ref|porosi\w*|fatur\w*|porud\w*|narud\w*|racun\w*|nr|no|br)"
    r"\.?\s*#?\s*$",
    re.IGNORECASE,
)
# A street: its kind ("Rruga", "Ulica", "Bulevar", "Street"...) and name, then a number.
_STREET_KIND: Final = (
    r"(?:rr(?:uga|ugen|uges|ugës|ugën)?\.?|sheshi|ulic[aieu]|ul\.|bulevar[ad]?|bul\.|trg"
    r"|улиц[аие]|ул\.|булевар|трг|street|st\.|road|rd\.|avenue|ave\.|strasse|straße|str\.|via"
    r"|viale|piazza)"
)
_ADDRESS: Final = re.compile(
    rf"(?i)\b{_STREET_KIND}(?:\s+[^\W\d][\w'’.-]*){{1,5}}\s*,?\s*(?:nr\.?|br\.?|no\.?|бр\.?)?\s*"
    r"\d{1,4}[a-z]?\b"
    r"|\b\d{1,4}[a-z]?\s+(?:[A-Z][\w'’-]*\s+){1,3}(?:Street|St\.|Road|Rd\.|Avenue|Ave\.)",
)
# Personal numbers: Serbian JMBG (13 digits, checksum), Albanian NID (letter, 8 digits,
# letter), and any number after an ID word (Kosovo's 10-digit personal number...).
_ALBANIAN_ID: Final = re.compile(r"\b[A-Z]\d{8}[A-Z]\b")
_ID_AFTER_WORD: Final = re.compile(
    r"(?i)\b(?:jmbg|personal (?:number|id)|id(?: number)?|numri personal|nr\.? personal"
    r"|let[eë]rnjoftim\w*|li[cč]n[ae] kart\w*|pasaport\w*|passport)\s*(?:no\.?|nr\.?|br\.?)?"
    r"\s*[:#]?\s*([A-Z]{0,2}\d{6,13}[A-Z]?)\b"
)
_JMBG: Final = re.compile(r"(?<![\d+])\d{13}(?!\d)")
_PLACEHOLDER: Final = re.compile(r"\[(PHONE|EMAIL|CARD|IBAN|ADDRESS|ID)_(\d+)\]")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _jmbg_ok(digits: str) -> bool:
    d = [int(c) for c in digits]
    weights = (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    check = 11 - sum(w * x for w, x in zip(weights, d, strict=False)) % 11
    check = 0 if check > 9 else check
    day, month = int(digits[:2]), int(digits[2:4])
    return check == d[12] and 1 <= day <= 31 and 1 <= month <= 12


class PiiMasker:
    """Replaces personal data with numbered placeholders, consistently across several texts.

    The same number or address gets the same placeholder each time, so a conversation of
    several turns still reads coherently to the model.
    """

    def __init__(self) -> None:
        #: placeholder → the original text, as the customer wrote it.
        self.mapping: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def mask(self, text: str) -> str:
        text = _EMAIL.sub(lambda m: self._placeholder("EMAIL", m.group(), m.group().lower()), text)
        text = _IBAN.sub(self._iban, text)
        text = _ID_AFTER_WORD.sub(self._id_after_word, text)
        text = _ALBANIAN_ID.sub(lambda m: self._placeholder("ID", m.group(), m.group()), text)
        text = _JMBG.sub(self._jmbg, text)
        text = _CARD.sub(self._card, text)
        text = _PHONE.sub(self._phone, text)
        return _ADDRESS.sub(
            lambda m: self._placeholder("ADDRESS", m.group(), " ".join(m.group().lower().split())),
            text,
        )

    def _iban(self, match: re.Match[str]) -> str:
        if _iban_ok(match.group()):
            return self._placeholder("IBAN", match.group(), match.group().replace(" ", ""))
        return match.group()

    def _id_after_word(self, match: re.Match[str]) -> str:
        number = match.group(1)
        placeholder = self._placeholder("ID", number, number)
        return match.group()[: match.start(1) - match.start()] + placeholder

    def _jmbg(self, match: re.Match[str]) -> str:
        if _jmbg_ok(match.group()):
            return self._placeholder("ID", match.group(), match.group())
        return match.group()

    def _card(self, match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return self._placeholder("CARD", match.group(), digits)
        return match.group()

    def _phone(self, match: re.Match[str]) -> str:
        raw = match.group()
        digits = re.sub(r"\D", "", raw)
        if not 8 <= len(digits) <= 15 or _DATE.match(raw):
            return raw
        if _ORDER_WORDS.search(match.string[max(0, match.start() - 16) : match.start()]):
            return raw  # "porosia nr. 20261204"
        leading = raw.lstrip("(")
        prefixed = leading.startswith(("+", "0"))
        # Without "+" or a trunk 0, only a full international number: a calling code
        # followed by 8 or 9 digits ("38349111222").
        international = any(
            digits.startswith(code) and 8 <= len(digits) - len(code) <= 9
            for code in _CALLING_CODES
            if len(code) >= 3
        )
        if prefixed or (international and " " not in raw.strip()):
            return self._placeholder("PHONE", raw, digits)
        return raw

    def _placeholder(self, kind: str, original: str, key: str) -> str:
        existing = self._by_key.get(f"{kind}:{key}")
        if existing is not None:
            return existing
        self._counts[kind] = self._counts.get(kind, 0) + 1
        placeholder = f"[{kind}_{self._counts[kind]}]"
        self._by_key[f"{kind}:{key}"] = placeholder
        self.mapping[placeholder] = original
        return placeholder


def mask_pii(text: str) -> tuple[str, dict[str, str]]:
    """Mask personal data: "[PHONE_1]", "[EMAIL_1]", "[CARD_1]", "[IBAN_1]", "[ADDRESS_1]",
    "[ID_1]".

    Returns the masked text and placeholder → original, to restore with :func:`restore_pii`.
    """
    masker = PiiMasker()
    return masker.mask(text), masker.mapping


def restore_pii(text: str, mapping: dict[str, str]) -> str:
    """Put the customer's own data back where a reply repeats a placeholder.

    A card number comes back only as its last four digits: a full card number is never
    written into a chat message. Placeholders not in ``mapping`` are left as they are.
    """

    def original(match: re.Match[str]) -> str:
        value = mapping.get(match.group())
        if value is None:
            return match.group()
        if match.group(1) == "CARD":
            return "**** " + re.sub(r"\D", "", value)[-4:]
        return value

    return _PLACEHOLDER.sub(original, text)
