"""Words the app shows: platform names, times, countdowns and errors in plain language."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Final

__all__ = [
    "PLATFORM_NAMES",
    "STATUS_NAMES",
    "countdown",
    "fold",
    "initials",
    "parse_day",
    "plain_error",
    "send_error_words",
    "short_time",
]

log = logging.getLogger(__name__)

PLATFORM_NAMES: Final[dict[str, str]] = {
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "webchat": "Web chat",
}

STATUS_NAMES: Final[dict[str, str]] = {
    "open": "Open",
    "waiting": "Waiting",
    "resolved": "Resolved",
    "snoozed": "Snoozed",
}

#: What a failed send means for the owner, and what to do about it (by relay error code).
_SEND_ERRORS: Final[dict[str, str]] = {
    "window_closed": (
        "The customer last wrote more than 24 hours ago, so the platform no longer accepts"
        " a reply. It will work again as soon as they write."
    ),
    "token_invalid": (
        "The channel's connection has expired. Open Channels and connect it again, then retry."
    ),
    "recipient_unavailable": "The customer can no longer be reached on this channel.",
    "too_long": "The message is longer than this channel allows. Shorten it and send again.",
    "rate_limited": "The platform asked us to slow down. The message will be retried.",
    "quota_exceeded": (
        "This month's message limit is reached. See Usage for when it resets, or upgrade."
    ),
    "already_replied": "An automatic reply to this message was already sent.",
    "unknown_channel": "This channel is no longer connected.",
    "unknown_recipient": "The platform does not know this customer any more.",
    "platform_error": "The platform could not deliver the message. Try again in a moment.",
    "outcome_unknown": (
        "The server lost track of this reply while sending it: the customer may or may not"
        " have it. Look in the conversation on the platform, then mark it as arrived, or retry."
    ),
}


def send_error_words(code: str | None, message: str | None) -> str:
    """A failed send explained for the owner: our words for known codes, else the relay's."""
    if code and code in _SEND_ERRORS:
        return _SEND_ERRORS[code]
    if message:
        return message
    return "The message could not be sent."


def plain_error(exc: BaseException) -> str:
    """One sentence for an error shown in the window; never a traceback.

    Engine and knowledge-base errors already carry words meant for people (``message``
    or their text); anything else is logged in full and summarised.
    """
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    if isinstance(exc, ValueError) and str(exc):
        return _sentence(str(exc))
    if type(exc).__name__.endswith(("KnowledgeBaseError", "DocumentError", "EmbeddingError")):
        return _sentence(str(exc))
    if isinstance(exc, TimeoutError):
        return "That took too long. Check the connection and try again."
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        return _sentence(f"The computer refused: {detail}")
    log.error("unexpected error shown to the user", exc_info=exc)
    return "Something went wrong. The details are in the log; please try again."


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def short_time(ms: int, now_ms: int) -> str:
    """``14:05`` today, ``Yesterday``, a weekday within a week, else ``12 Mar``."""
    when = datetime.fromtimestamp(ms / 1000)
    now = datetime.fromtimestamp(now_ms / 1000)
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if when.date() == (now - timedelta(days=1)).date():
        return "Yesterday"
    if timedelta(0) < now - when < timedelta(days=6):
        return when.strftime("%a")
    if when.year == now.year:
        return f"{when.day} {when.strftime('%b')}"
    return f"{when.day} {when.strftime('%b %Y')}"


def countdown(deadline_ms: int | None, now_ms: int) -> str | None:
    """Time left to reply in a messaging window (``5h 20m left``); None without a window."""
    if deadline_ms is None:
        return None
    left = deadline_ms - now_ms
    if left <= 0:
        return "Window closed"
    minutes = left // 60_000
    if minutes < 60:
        return f"{max(minutes, 1)}m left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m left" if hours < 10 else f"{hours}h left"


def initials(name: str | None) -> str:
    """One or two letters for an avatar ("Arta Krasniqi" -> "AK")."""
    words = [w for w in (name or "").replace("_", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:1].upper()
    return (words[0][:1] + words[-1][:1]).upper()


_CYRILLIC: Final[dict[str, str]] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "ђ": "dj",
    "е": "e",
    "ж": "z",
    "з": "z",
    "и": "i",
    "ј": "j",
    "к": "k",
    "л": "l",
    "љ": "lj",
    "м": "m",
    "н": "n",
    "њ": "nj",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "ћ": "c",
    "у": "u",
    "ф": "f",
    "х": "h",
    "ц": "c",
    "ч": "c",
    "џ": "dz",
    "ш": "s",
}
_FOLD_TABLE: Final = str.maketrans({**_CYRILLIC, "đ": "dj", "ł": "l", "ß": "ss"})


def fold(text: str) -> str:
    """Text for matching a search: case, accents and script ignored.

    Owners type "cesht" for "çështje" and "marko" for "Марко": Serbian Cyrillic is
    transliterated to Latin and diacritics (ë ç č ć š ž) are dropped.
    """
    lowered = text.casefold().translate(_FOLD_TABLE)
    decomposed = unicodedata.normalize("NFKD", lowered)
    # Latin accents are the combining marks U+0300-U+036F (U+034F is not one); what is
    # ASCII once they are gone has no other marks: the walk over every character is for
    # the rest.
    stripped = _LATIN_MARKS.sub("", decomposed)
    if stripped.isascii():
        return stripped
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_LATIN_MARKS: Final = re.compile("[\u0300-\u034e\u0350-\u036f]+")


_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "janar", "januar"),
            ("feb", "february", "shkurt", "februar"),
            ("mar", "march", "mars", "mart"),
            ("apr", "april", "prill"),
            ("may", "maj"),
            ("jun", "june", "qershor", "juni"),
            ("jul", "july", "korrik", "juli"),
            ("aug", "august", "gusht", "avg", "avgust"),
            ("sep", "sept", "september", "shtator", "septembar"),
            ("oct", "october", "tetor", "okt", "oktobar"),
            ("nov", "november", "nëntor", "nentor", "novembar"),
            ("dec", "december", "dhjetor", "dec", "decembar"),
        ),
        start=1,
    )
    for name in names
}


def parse_day(text: str) -> date | None:
    """A day as an owner types it: "7 Dec 2026", "Dec 7, 2026", "7.12.2026", "2026-12-07".

    Numbers alone are read day first (as in Europe); None when it is not a real day.
    """
    words = re.findall(r"[^\W\d_]+|\d+", text.strip().lower())
    numbers = [int(w) for w in words if w.isdigit()]
    names = [w for w in words if not w.isdigit()]
    try:
        if names:
            month = _MONTHS.get(names[0]) or _MONTHS.get(names[0][:3])
            if month is None or len(names) > 1 or len(numbers) != 2:
                return None
            day, year = (numbers[1], numbers[0]) if numbers[0] > 31 else numbers
            return date(year, month, day)
        if len(numbers) != 3:
            return None
        if numbers[0] > 31:  # ISO: year first
            return date(numbers[0], numbers[1], numbers[2])
        day, month, year = numbers
        return date(year + 2000 if year < 100 else year, month, day)
    except ValueError:
        return None
