"""An offer told as a sentence in the customer's language, with dates written their way."""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from desktop.core.kb.models import SearchHit

__all__ = ["format_date", "offer_sentence"]

# The lines ``kb.items.offer_text`` writes under an offer's description.
_PRICE: Final = re.compile(r"^Price:\s*(.+)$", re.MULTILINE)
_VALID: Final = re.compile(
    r"^Valid(?: (?P<kind>until|from))?:\s*(?P<a>\d{4}-\d{2}-\d{2})"
    r"(?: to (?P<b>\d{4}-\d{2}-\d{2}))?$",
    re.MULTILINE,
)

_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

#: Per language tag: "it costs", "valid", and the until / from-to / from phrases.
_PHRASES: Final[dict[str, tuple[str, str, str, str, str]]] = {
    "en": ("It costs {price}", "Valid", " until {b}", " from {a} to {b}", " from {a}"),
    "sq": ("Kushton {price}", "Vlen", " deri më {b}", " nga {a} deri më {b}", " nga {a}"),
    "sr-Latn": ("Košta {price}", "Važi", " do {b}", " od {a} do {b}", " od {a}"),
    "sr-Cyrl": ("Кошта {price}", "Важи", " до {b}", " од {a} до {b}", " од {a}"),
    "it": ("Costa {price}", "Valida", " fino al {b}", " dal {a} al {b}", " dal {a}"),
    "de": ("Es kostet {price}", "Gültig", " bis {b}", " vom {a} bis {b}", " ab {a}"),
}


def format_date(day: date, tag: str) -> str:
    """A date as people writing ``tag`` write it: "4 December 2026", "04.12.2026", "4/12/2026"."""
    if tag.startswith("sr"):
        return f"{day.day}. {day.month}. {day.year}."
    if tag in ("sq", "de"):
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if tag == "it":
        return f"{day.day}/{day.month}/{day.year}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def offer_sentence(hit: SearchHit, tag: str) -> str:
    """The offer as the customer reads it: "Winter jacket: black down jacket. It costs 49 €
    until 31 December 2026." (``tag`` such as "sq" or "sr-Cyrl"; others get English)."""
    costs, valid_word, until, between, since = (
        _PHRASES.get(tag) or _PHRASES["sr-Latn" if tag == "sr" else "en"]
    )
    price = _PRICE.search(hit.text)
    valid = _VALID.search(hit.text)
    description = _VALID.sub("", _PRICE.sub("", hit.text)).strip()
    first = f"{hit.title}: {description}" if description else hit.title
    if not first.rstrip().endswith((".", "!", "?")):
        first = first.rstrip() + "."
    when = ""
    if valid:
        a = format_date(date.fromisoformat(valid["a"]), tag)
        if valid["b"]:
            when = between.format(a=a, b=format_date(date.fromisoformat(valid["b"]), tag))
        else:
            when = (until if valid["kind"] == "until" else since).format(a=a, b=a)
    if price:
        second = costs.format(price=price.group(1).strip().rstrip(".")) + when
    elif when:
        second = valid_word + when
    else:
        return first
    return f"{first} {second.rstrip('.')}."
