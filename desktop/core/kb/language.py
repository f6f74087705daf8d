"""Which language a base is in, and the full-text analyser that suits it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import msgspec

from .text import normalize_for_search

__all__ = ["STEMMERS", "Analyzer", "analyzer_for", "detect_language"]

# Lance's stemmers (Snowball via tantivy), keyed by ISO 639-1.
STEMMERS = {
    "ar": "Arabic", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "hu": "Hungarian", "it": "Italian",
    "nl": "Dutch", "no": "Norwegian", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sv": "Swedish", "ta": "Tamil", "tr": "Turkish",
}  # fmt: skip

# Very frequent function words; enough to tell the languages a Kosovo shop meets apart.
# Serbian is matched after Cyrillic has been transliterated, so one Latin list serves both.
_MARKERS = {
    "sq": "dhe të në është për një nga që nuk janë do edhe por mund ju ka kemi jemi këtë kjo "
    "si me më ose çdo tuaj juaj ne",
    "sr": "je i u da se na za od su sa ili ali kao što koji koja koje nije smo ste će može "
    "biti ako vam vas",
    "en": "the and of to is in for you your are with on that this it can we be or not have "
    "from how what",
    "it": "il la di che è per un una non del della sono le gli con si al nel come può ci anche dei",
    "de": "der die und das ist nicht mit sie ein eine zu den auf für sich auch von dem wir "
    "ihr können",
    "fr": "le la les et des est une un pour que dans pas sur vous nous avec qui au du ce sont peut",
    "es": "el la los las y de que en es un una por para con no se del al su como puede",
    "tr": "ve bir bu için ile da de ne çok daha olan gibi ama sonra nasıl var yok",
}


def _languages_of() -> dict[str, tuple[str, ...]]:
    """Each marker word with the languages it marks: one look-up a word, not one a language."""
    found: dict[str, tuple[str, ...]] = {}
    for lang, words in _MARKERS.items():
        for word in set(words.split()):
            found[word] = (*found.get(word, ()), lang)
    return found


_LANGUAGES_OF = _languages_of()
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(texts: Iterable[str], *, default: str = "und") -> str:
    """The dominant language of ``texts`` by function-word counts; ``default`` when unsure.

    Crude but dependable on whole knowledge bases, which is all the analyser needs.
    """
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        words = _WORD.findall(normalize_for_search(text).lower())
        total += len(words)
        for word in words:
            for lang in _LANGUAGES_OF.get(word, ()):
                counts[lang] += 1
    ranked = counts.most_common(2)
    # Function words are a third or more of any real text; a few stray hits are noise
    # (codes, names, or product lists), not a language.
    if not ranked or ranked[0][1] < 5 or ranked[0][1] < 0.08 * total:
        return default
    best, n = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    # Without a clear lead (a truly mixed base) no stemmer is better than a wrong one.
    return best if n >= 1.25 * runner_up else default


class Analyzer(msgspec.Struct, frozen=True, kw_only=True):
    """How FTS columns are tokenised: stemming only where Lance has a stemmer."""

    language: str  # ISO code the base was judged to be in
    stem_language: str | None  # Lance language name, None: no stemming
    remove_stop_words: bool

    @property
    def key(self) -> str:
        """Stored with the index so a change of analyser triggers a rebuild."""
        return f"{self.language}:{self.stem_language or '-'}:{int(self.remove_stop_words)}"


def analyzer_for(language: str) -> Analyzer:
    """Stemming where a stemmer exists; Albanian, Serbian and others get plain folded words.

    Stop words are only removed for English: measured on the evaluation sets it helps
    there, and other lists drop meaningful words (Italian "non").
    """
    lang = language.lower()
    stem = STEMMERS.get(lang)
    return Analyzer(language=lang, stem_language=stem, remove_stop_words=lang == "en")
