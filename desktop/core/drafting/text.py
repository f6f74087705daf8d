"""Text helpers shared by the drafters: script folding, word splitting and length trimming."""

from __future__ import annotations

import re
from typing import Final

from common.language import cyrillic_share, fold, words

__all__ = ["cyrillic_share", "fold", "to_cyrillic", "to_latin", "trim_to_limit", "words"]

_SENTENCE_END: Final = re.compile(r"[.!?…](?=[\s\"')\]]|$)|\n")
_ELLIPSIS: Final = "…"


def trim_to_limit(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending at a sentence boundary.

    When no sentence ends in the second half of the allowed length, cut at the last space
    and add an ellipsis, so a reply never stops mid-word.
    """
    if len(text) <= limit:
        return text
    window = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] >= limit // 2:
        return window[: ends[-1]].rstrip()
    window = text[: limit - len(_ELLIPSIS)]
    space = window.rfind(" ")
    if space >= limit // 2:
        window = window[:space]
    return window.rstrip(" ,;:-") + _ELLIPSIS


_LATIN_TO_CYRILLIC: Final = {
    "lj": "љ", "nj": "њ", "dž": "џ", "dj": "ђ", "a": "а", "b": "б", "v": "в", "g": "г",
    "d": "д", "đ": "ђ", "e": "е", "ž": "ж", "z": "з", "i": "и", "j": "ј", "k": "к", "l": "л",
    "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "ć": "ћ", "u": "у",
    "f": "ф", "h": "х", "c": "ц", "č": "ч", "š": "ш",
}  # fmt: skip
_LATIN_LETTERS: Final = re.compile("dž|lj|nj|dj|[a-zčćđšž]", re.IGNORECASE)
# Words left in Latin: with letters Serbian does not use, brand-like capitals inside
# ("iPhone", "XL"), addresses and handles.
_FOREIGN: Final = re.compile(r"[qwxyQWXY]|[a-zčćđšž][A-ZČĆĐŠŽ]|^[A-ZČĆĐŠŽ]{2,}$|[@/.:]\S")
_TOKEN: Final = re.compile(r"\S+")


def _word_to_cyrillic(match: re.Match[str]) -> str:
    word = match.group()
    letters = word.strip(".,;:!?()\"'«»„“”")
    if not letters or _FOREIGN.search(letters) or any(c.isdigit() for c in letters):
        return word

    def letter(m: re.Match[str]) -> str:
        found = m.group()
        cyr = _LATIN_TO_CYRILLIC[found.lower()]
        return cyr.upper() if found[0].isupper() else cyr

    return _LATIN_LETTERS.sub(letter, word)


def to_cyrillic(text: str) -> str:
    """Serbian Latin to Cyrillic, leaving brand names, codes and addresses in Latin."""
    return _TOKEN.sub(_word_to_cyrillic, text)


_CYRILLIC_TO_GAJ: Final = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "đ", "е": "e", "ж": "ž",
        "з": "z", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
        "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "ć", "у": "u",
        "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š", "А": "A", "Б": "B",
        "В": "V", "Г": "G", "Д": "D", "Ђ": "Đ", "Е": "E", "Ж": "Ž", "З": "Z", "И": "I",
        "Ј": "J", "К": "K", "Л": "L", "Љ": "Lj", "М": "M", "Н": "N", "Њ": "Nj", "О": "O",
        "П": "P", "Р": "R", "С": "S", "Т": "T", "Ћ": "Ć", "У": "U", "Ф": "F", "Х": "H",
        "Ц": "C", "Ч": "Č", "Џ": "Dž", "Ш": "Š",
    }
)  # fmt: skip


def to_latin(text: str) -> str:
    """Serbian Cyrillic to Gaj's Latin, diacritics kept ("Ђорђе" → "Đorđe")."""
    return text.translate(_CYRILLIC_TO_GAJ)
