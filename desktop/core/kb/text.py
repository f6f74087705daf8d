"""Text helpers: search normalisation (Cyrillic to Latin), sentences, token estimates, hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

from .analysis import analyze_query, expand_query

__all__ = [
    "estimate_tokens",
    "fingerprint",
    "hamming",
    "normalize_for_search",
    "query_expansion",
    "sanitize_query",
    "simhash",
    "split_sentences",
    "transliterate_cyrillic",
]

# Serbian Cyrillic (Vuk's alphabet) to Gaj's Latin, plus the Macedonian and Russian letters a
# Kosovo shop may meet, so that either script finds the other.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "ž", "з": "z",
    "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "ć", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "č", "џ": "dž", "ш": "š", "ѓ": "gj", "ќ": "kj", "ѕ": "dz", "й": "j", "ё": "jo",
    "ы": "y", "э": "e", "ю": "ju", "я": "ja", "щ": "šč", "ъ": "", "ь": "", "і": "i", "ї": "ji",
    "є": "je", "ґ": "g",
}  # fmt: skip
_TRANSLIT = {ord(k): v for k, v in _CYRILLIC.items()}
_TRANSLIT.update({ord(k.upper()): v.capitalize() for k, v in _CYRILLIC.items() if v})
# "đ" (Cyrillic "ђ") is typed "dj" on keyboards without it; ASCII folding would give "d".
_TRANSLIT.update({ord("đ"): "dj", ord("Đ"): "Dj"})
_HAS_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def transliterate_cyrillic(text: str) -> str:
    """Serbian Cyrillic to Latin; ``đ`` becomes ``dj`` so both spellings meet."""
    return text.translate(_TRANSLIT)


def normalize_for_search(text: str) -> str:
    """The form both indexed text and queries take before Lance's lower-case + ASCII folding."""
    text = unicodedata.normalize("NFC", text)
    if _HAS_CYRILLIC.search(text) or "đ" in text or "Đ" in text:
        text = transliterate_cyrillic(text)
    return text


_SPACES = re.compile(r"\s+")
MAX_QUERY_CHARS = 1000
MAX_QUERY_WORDS = 64


def sanitize_query(query: str, *, loose_forms: bool = True) -> str:
    """The query as the full-text index reads it: words only (no operators, quotes or
    control characters reach the FTS parser), analysed like the indexed text, greetings
    left out (``analysis.analyze_query``).

    ``loose_forms``: False where Lance stems the base's language itself. Long queries are
    cut to their first words, which keeps FTS latency bounded.
    """
    return analyze_query(
        query[:MAX_QUERY_CHARS], loose_forms=loose_forms, max_words=MAX_QUERY_WORDS
    )


def query_expansion(query: str, *, loose_forms: bool = True) -> str:
    """Other-language words of the same meaning as the query's (none where Lance stems)."""
    return expand_query(query[:MAX_QUERY_CHARS], max_words=MAX_QUERY_WORDS) if loose_forms else ""


_WORD = re.compile(r"\w+", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Rough model tokens: words x 1.3 (good enough to size chunks, no tokenizer needed)."""
    return int(len(_WORD.findall(text)) * 1.3 + 0.5)


# A sentence ends at . ! ? or … (optionally closed by a quote or bracket) followed by space
# and something that can start a sentence. Numbers like "2.5" and "p.sh." mid-word stay whole.
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])[\"'”’»)\]]*\s+(?=[\"'“„«(\[]?[\w\u0400-\u04ff])",
    re.UNICODE,
)
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "nr",
        "no",
        "fig",
        "vs",
        "sh",
        "p.sh",
        "psh",
        "npr",
        "tj",
        "itd",
        "sl",
        "str",
        "tel",
        "br",
        "st",
        "ca",
        "approx",
        "inc",
        "ltd",
        "jr",
        "sr",
        "d.o.o",
        "sh.p.k",
        "sh.a",
    ]
)


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences; never splits inside a word or after a known short form."""
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return []
    parts: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        candidate = text[start : m.start()]
        last_word = candidate.rsplit(" ", 1)[-1].rstrip(".").lower()
        next_char = text[m.end() : m.end() + 1]
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue  # "Dr. Ana", "p.sh. pica", initials
        if next_char.islower():
            continue  # lower-case after a period is rarely a new sentence
        parts.append(candidate.strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def fingerprint(text: str) -> str:
    """Content hash for "did this page/file change"; whitespace differences do not count."""
    return hashlib.sha256(_SPACES.sub(" ", text).strip().encode()).hexdigest()


def simhash(text: str) -> int:
    """64-bit simhash over word 3-shingles; near-duplicate pages differ in few bits."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 3:
        shingles = [" ".join(words)] if words else []
    else:
        shingles = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    if not shingles:
        return 0
    digests = b"".join(hashlib.blake2b(s.encode(), digest_size=8).digest() for s in shingles)
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(-1, 8), axis=1)
    votes = bits.astype(np.int32).sum(axis=0) * 2 - len(shingles)
    return int("".join("1" if v > 0 else "0" for v in votes), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
