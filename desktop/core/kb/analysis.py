"""How words are compared: folding, transliteration, light stemming, filler words.

One analysis for every language a Kosovo or Serbian shop meets, applied alike to what is
indexed and to what is asked, so that "dërgesa", "dergesen" and "DËRGESË" meet, and
"доставу", "dostavu" and "dostava" too. Lance then only lower-cases and splits words
(and stems where it has a stemmer: English, Italian, German...).

Albanian and Serbian have no stemmer in Lance; both inflect by endings (Albanian
definite and case endings "-i/-in/-it/-ës/-ën/-ve", Serbian cases "-a/-u/-om/-ama/-ima"),
so each word is indexed twice: as folded and as a stem with such an ending cut off.
An exact form then scores higher than a mere stem match, and English or Italian words
keep their own form beside the stem (measured: kb_quality on qa4faq/stackfaq unchanged).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

from .lexicon import GROUPS

__all__ = [
    "FILLER",
    "STEM_LETTERS",
    "analyze",
    "analyze_query",
    "content_words",
    "expand_query",
    "fold_text",
    "loose",
    "loose_alternatives",
    "stem",
    "unfilled",
    "words_of",
]

# Serbian Cyrillic (Vuk) to Gaj's Latin, plus Macedonian and Russian letters; "ђ" and
# "đ" become "dj", the way phones without the letter type it.
_CYRILLIC: Final = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z", "з": "z",
    "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "c", "џ": "dz", "ш": "s", "ѓ": "gj", "ќ": "kj", "ѕ": "dz", "й": "j", "ё": "jo",
    "ы": "y", "э": "e", "ю": "ju", "я": "ja", "щ": "sc", "ъ": "", "ь": "", "і": "i", "ї": "ji",
    "є": "je", "ґ": "g",
}  # fmt: skip
_FOLD: Final = str.maketrans({**_CYRILLIC, "đ": "dj", "ß": "ss", "ø": "o", "ł": "l", "ı": "i"})
_WORD: Final = re.compile(r"[^\W_]+")


def fold_text(text: str) -> str:
    """Lower case, Latin script, no diacritics: "Доставу" → "dostavu", "Çmimi" → "cmimi"."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c))


# A hyphen next to a part of one or two letters joins a word: "Wi-Fi", "e-mail".
_SHORT_HYPHEN: Final = re.compile(r"\b([^\W\d_]{1,2})-(?=[^\W\d_])|(?<=[^\W\d_])-([^\W\d_]{1,2})\b")


def words_of(text: str) -> list[str]:
    """The folded words of ``text`` (apostrophes split: "t'i" → "t", "i"; "Wi-Fi" → "wifi")."""
    joined = _SHORT_HYPHEN.sub(lambda m: m.group(1) or m.group(2), fold_text(text))
    return _WORD.findall(joined)


# Endings cut off to make a stem, longest first; a stem keeps at least 3 letters (4 for
# words of 6 or more), so short words are left whole. Albanian: definite and case forms,
# plural and verb endings; Serbian: case and verb endings. Both lists run on folded words.
_ENDINGS_TEXT: Final = """
    imeve imet imin imit imi ime eve ave ojme oni ojne ojn oj on uar ura ur
    it in ja ve ne es en et at ut un us ra rat ri rit se sh
    ovima evima ama ima om em og ih im ovi ova ati iti eti ate ite imo amo emo
    aju uje uju ujem ujete ujemo anje enje ovanje ski ska sko cki cka
    a e i o u
"""
_ENDINGS: Final = tuple(sorted(set(_ENDINGS_TEXT.split()), key=len, reverse=True))


# Cached: a shop's words repeat, and trying every ending cost ~5 us a word (queries and
# indexing both stem each word).
@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """``word`` without its inflectional ending (folded input): "dergesen" → "derges"."""
    if len(word) <= 4 or word.isdigit():
        return word
    least = 4 if len(word) >= 6 else 3
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= least:
            return word[: -len(ending)]
    return word


#: Letters of a stem kept as the second, looser form of each word (measured on the
#: shops' dev questions: 4 beat 5 and 6, and the word + stem pair beat either alone).
STEM_LETTERS: Final = 4


def loose(word: str) -> str:
    """The loose form of a folded word: the first letters of its stem."""
    return stem(word)[:STEM_LETTERS]


def _pair(word: str) -> list[str]:
    short = loose(word)
    return [word] if short == word else [word, short]


def analyze(text: str, *, loose_forms: bool = True) -> str:
    """The indexed form of ``text``: each folded word, followed by its loose form."""
    if not loose_forms:
        return " ".join(words_of(text))
    return " ".join(token for word in words_of(text) for token in _pair(word))


def analyze_query(text: str, *, loose_forms: bool = True, max_words: int = 64) -> str:
    """The searched form of a question: its words (greetings and thanks left out) as
    :func:`analyze` writes them.

    ``loose_forms=False`` gives the words alone, for bases whose language Lance stems
    itself (English, Italian...): there its stemmer does the job better (measured on
    StackFAQ: loose forms cost 0.01 MRR).
    """
    if not loose_forms:
        return " ".join(words_of(text)[:max_words])
    return " ".join(token for word in unfilled(text)[:max_words] for token in _pair(word))


def expand_query(text: str, *, max_words: int = 64) -> str:
    """Loose forms of the question's words in the other languages the lexicon knows
    ("delivery" adds "derg", "dost"...), minus those the question has already."""
    asked = unfilled(text)[:max_words]
    seen = {token for word in asked for token in _pair(word)}
    added: list[str] = []
    for word in asked:
        for short in loose_alternatives(word):
            if short not in seen:
                seen.add(short)
                added.append(short)
    return " ".join(added)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Greetings, thanks and politeness (folded) in sq, sr, en, it, de: they say nothing about
#: which answer is meant. Only words that are never anything else ("day" is not here).
FILLER: Final = _wordset(
    """
    hi hello hey hiya thanks thank thx please pls plz ok okay greetings cheers
    pershendetje pershendes pershnetje tung tungjatjeta mirdita miredita mirembrema
    miremengjes faleminderit flm rrofsh lutem
    zdravo pozdrav pozdravljam cao hvala molim fala postovani postovanje
    ciao buongiorno buonasera salve grazie prego
    hallo danke bitte
    """
)
# Two-word greetings and politeness whose words alone mean something else.
_FILLER_PAIRS: Final = re.compile(
    r"\b(?:good (?:morning|afternoon|evening|day)|dobar dan|dobro (?:jutro|vece)"
    r"|laku noc|mire dita|dita e mire|ju lutem|te lutem|molim vas|guten (?:tag|morgen|abend)"
    r"|thank you|bona sera)\b"
)


def unfilled(text: str) -> list[str]:
    """The folded words of ``text`` without greetings, thanks and "please"."""
    return [w for w in words_of(_FILLER_PAIRS.sub(" ", fold_text(text))) if w not in FILLER]


# Function words that carry no topic (folded), used where only content words should count.
_FUNCTION: Final = _wordset(
    """
    the a an and or for with you your are was were is be been this that these those there
    what which who how when where why can could would will shall have has had does did do
    not any some about from into on in at to of by me my i we our us it its im i'm yes no
    also just get got let is am else them they some something somewhere until than then
    there here very really exactly maybe still
    a e i te ne per me nga qe nuk une ju juve juaj tuaj keni kemi kam jeni jemi jam eshte
    osht asht jane nje dhe cfare cka qka kur kush pse cili cila cilin edhe apo ose po sa
    si ku ka kane mund dua do duhet kete kjo ky keto ato ai ajo tek te tash tani nese
    sm s m t n e jom ime im yt jote cil cila cilat cilen cilin dicka diqka bon ban mes
    da li je su sam smo ste si se na za od iz u o sa kod do ali ili jos vec samo koji koja
    koje kojem sta sto kako kada kad gde gdje koliko kolko kolika koliki jel dal ima imate
    imam mogu moze
    mozete mi vi ja ti on ona ono oni nas vam vas ga mu joj ih neki neka nesto to taj ta
    bi ako mene moj moja moje tvoj nema nemate nemam ne ni pa te jer dok vec bas
    il lo la le gli di da del della dei che non per con un una sono come
    der die das und ist nicht mit ein eine zu den auf fur ich sie wir
    """
)


def content_words(text: str) -> list[str]:
    """The folded words of ``text`` that carry meaning: no filler, no function words."""
    return [w for w in unfilled(text) if w not in _FUNCTION]


def _lexicon() -> dict[str, tuple[str, ...]]:
    """Each stem with the loose forms of the lexicon's words of the same meaning, in the
    order of the sorted words: what a query expansion adds, worked out once (per query it
    cost ~0.5 ms on the UI loop)."""
    by_stem: dict[str, set[str]] = {}
    for group in GROUPS:
        folded = {w for form in group for w in words_of(form) if len(w) > 2}
        for word in folded:
            by_stem.setdefault(stem(word), set()).update(folded - {word})
    return {key: tuple(loose(word) for word in sorted(words)) for key, words in by_stem.items()}


_LOOSE_BY_STEM: Final = _lexicon()


def loose_alternatives(word: str) -> tuple[str, ...]:
    """The loose forms of the words of the same meaning in English, Albanian or Serbian
    (folded), from the lexicon, in the order of the sorted words."""
    return _LOOSE_BY_STEM.get(stem(word), ())
