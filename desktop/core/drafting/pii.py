"""Masking of phone numbers, e-mail addresses and card numbers before text leaves the machine."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PiiMasker", "mask_pii", "restore_pii"]

_EMAIL: Final = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")
# 13–19 digits, optionally grouped by single spaces or dashes (Luhn-checked afterwards).
_CARD: Final = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
# Digits with spaces, dashes, slashes or brackets between; kept only if they start like a
# phone number (+, 00 or a 0 trunk prefix) and have 8–15 digits. Dots are not separators,
# so prices and dates ("01.05.2026") are left alone.
_PHONE: Final = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d(?:[ \-/()]{0,2}\d){6,17}(?![\w])")
_DATE: Final = re.compile(r"^\d{1,2}[/-]\d{1,2}[/-]\d{2,4}$")
_PLACEHOLDER: Final = re.compile(r"\[(PHONE|EMAIL|CARD)_(\d+)\]")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


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
        text = _CARD.sub(self._card, text)
        return _PHONE.sub(self._phone, text)

    def _card(self, match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return self._placeholder("CARD", match.group(), digits)
        return match.group()

    def _phone(self, match: re.Match[str]) -> str:
        raw = match.group()
        digits = re.sub(r"\D", "", raw)
        leading = raw.lstrip("(")
        looks_like_phone = leading.startswith(("+", "0"))
        if looks_like_phone and 8 <= len(digits) <= 15 and not _DATE.match(raw):
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
    """Mask phones, e-mails and (Luhn-valid) card numbers: "[PHONE_1]", "[EMAIL_1]", "[CARD_1]".

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
