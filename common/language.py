"""Which language a short customer message is written in: letters and stop words, no model.

Shared by the desktop's drafter and the relay's away reply, so both read a message alike.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "LANGUAGE_NAMES",
    "cyrillic_share",
    "detect_language",
    "fold",
    "is_cyrillic",
    "message_language",
    "words",
]

# Serbian Cyrillic → Latin (Gaj), so one keyword list serves both scripts.
_CYRILLIC_TO_LATIN: Final = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "đ", "е": "e", "ж": "ž",
        "з": "z", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
        "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "ć", "у": "u",
        "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š",
    }
)  # fmt: skip
# Letters NFKD does not decompose.
_EXTRA_FOLDS: Final = str.maketrans({"đ": "dj", "ß": "ss", "ø": "o", "ł": "l", "ı": "i"})
_WORD: Final = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def fold(text: str) -> str:
    """Lower-case, Serbian Cyrillic to Latin, diacritics dropped: "Повраћај" → "povracaj"."""
    text = text.casefold().translate(_CYRILLIC_TO_LATIN).translate(_EXTRA_FOLDS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The words of ``text`` as written (apostrophe contractions kept: "i'm", "t'ju")."""
    return _WORD.findall(text)


def cyrillic_share(text: str) -> float:
    """Share of the letters in ``text`` that are Cyrillic (0 when there are no letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "\u0400" <= c <= "\u04ff") / len(letters)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


LANGUAGE_NAMES: Final[dict[str, str]] = {
    "sq": "Albanian",
    "sr": "Serbian",
    "en": "English",
    "de": "German",
    "it": "Italian",
    "fr": "French",
    "tr": "Turkish",
    "ru": "Russian",
    "mk": "Macedonian",
    "bg": "Bulgarian",
    "uk": "Ukrainian",
}

# Words that mark a language, in folded form (lower case, no diacritics), so that messages
# typed without ë/ç/č/š — the usual case on phones — are still recognised. Words shared by
# several of these languages ("me", "ne", "te", "sa", "po", "a", "i", "to", "do", "na") are
# deliberately left out.
_WORDS: Final[dict[str, frozenset[str]]] = {
    "sq": _wordset(
        """
        pershendetje pershendes tung mirdita miredita mirembrema mengjes faleminderit
        flm rrofsh lutem eshte esht jane ishte nje dhe per qe nuk une ju juve juaj
        tuaj tuajin keni kemi kam ke jeni jemi jam mund mundem mundeni dua duam due
        deshiroj kerkoj kushton kushtojne cmimi cmim cmimet cfare cka ckemi cili cila
        cilat kur kush pse edhe apo ose shume mire tani sot neser dje nese deri prej
        hapur mbyllur dyqani dyqan porosi porosia porosine porosit porositur dergesa
        dergese dergoni dergoj transporti madhesi madhesia ngjyre ngjyra zbritje
        oferta oferte ofertat ende akoma vetem gjithashtu ketu aty kete kjo ky keto
        ato atij saj shitet blej bleje paguaj pagesa pagese kartele kartela sasi falas
        kthim kthej ndihme ndihmoni pyetje pergjigje perafersisht mirupafshim ditet
        diten dites orari ore tjeter gati
        """
    ),
    "sr": _wordset(
        """
        zdravo pozdrav pozdravljam dobar dobro dan vece jutro hvala molim koliko kolko
        kosta kostaju cena cijena cene imate imam imamo ima li je nije jesu su sam smo
        ste od iz kod gde gdje kada kad sta sto kako zasto koji koja koje ovo ova ovaj
        taj ali ili jos vec samo treba trebam trebalo hocu hoce hocemo zelim zeleo
        zelela mogu moze mozete radno vreme vrijeme radite otvoreno zatvoreno danas
        sutra juce porudzbina porudzbinu narudzba narudzbu narucio narucila narucim
        dostava dostavu dostave isporuka velicina velicinu boja boju popust akcija
        prodavnica prodavnicu radnja nesto neko nista vas vam njih meni moj moja moje
        vasa vase kupiti kupim platiti placanje kartica karticom pouzecem poslati
        posaljete bih bi jel javite stigne stiglo postarina besplatna
        """
    ),
    "en": _wordset(
        """
        the is are was were you your i'm im does did what how much many price can
        could would will have has hi hello hey thanks thank please when where which
        open order delivery ship shipping and for with this that there any like want
        need available size stock it my we our of in on at be get if not yes good
        morning afternoon evening tomorrow today still also about from just know buy
        pay card cash return refund hours
        """
    ),
    "de": _wordset(
        """
        ich und nicht ist das die der haben sie wie viel kostet bitte danke hallo
        guten tag gibt es noch eine einen mit fur auch wann geoffnet bestellen
        lieferung
        """
    ),
    "it": _wordset(
        """
        grazie quanto costa sono buongiorno buonasera vorrei che della non avete anche
        quando aperto ordine consegna messaggio risponderemo rispondiamo siamo nostro
        nostra chiusi aperti breve possibile prezzo orari spedizione
        """
    ),
    "fr": _wordset(
        """
        bonjour merci combien vous est les des avez pour avec quand ouvert commande
        livraison
        """
    ),
    "tr": _wordset(
        """
        merhaba tesekkurler tesekkur kadar var bir icin fiyat fiyati lutfen nasil
        siparis kargo evet hayir
        """
    ),
}

# Letters that belong to one language family among those above; each one found counts twice.
_LETTERS: Final[dict[str, str]] = {
    "sq": "ëç",
    "sr": "čćđšž",
    "de": "äöüß",
    "tr": "ığş",
}

_CYRILLIC_MARKERS: Final[tuple[tuple[str, str], ...]] = (
    ("mk", "ѓќѕ"),  # before Serbian: Macedonian shares ј љ њ џ
    ("sr", "ђћџљњј"),
    ("uk", "ієїґ"),
    ("ru", "ыэё"),
    ("bg", "ъщ"),
)
_RUSSIAN_WORDS: Final = _wordset(
    """
    что это как привет спасибо пожалуйста здравствуйте сколько есть
    нет можно
    """
)


def is_cyrillic(text: str) -> bool:
    """Whether most letters of ``text`` are Cyrillic."""
    return cyrillic_share(text) > 0.5


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language: "sq", "sr", "en", a few others, or "und".

    Serbian in Cyrillic or Latin script is "sr" (Bosnian and Croatian read as "sr" too).
    Built for one or two short sentences, with or without diacritics and with English
    words mixed in; "und" when nothing marks a language (e.g. "ok", "👍", a number).
    """
    if is_cyrillic(text):
        return _detect_cyrillic(text)
    scores = dict.fromkeys(_WORDS, 0.0)
    lowered = text.casefold()
    for language, letters in _LETTERS.items():
        scores[language] += 2 * sum(lowered.count(letter) for letter in letters)
    for word in words(fold(text)):
        for language, vocabulary in _WORDS.items():
            if word in vocabulary:
                scores[language] += 1
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < 1 or top == second:
        return "und"
    return best


def _detect_cyrillic(text: str) -> str:
    lowered = text.casefold()
    for language, letters in _CYRILLIC_MARKERS:
        if any(letter in lowered for letter in letters):
            return language
    tokens = words(lowered)
    russian = sum(1 for w in tokens if w in _RUSSIAN_WORDS)
    serbian = sum(1 for w in words(fold(text)) if w in _WORDS["sr"])
    # Without Serbian-only letters, decide by words; Serbian is the Cyrillic of this market.
    return "ru" if russian > serbian else "sr"


def message_language(text: str) -> str:
    """The language tag of ``text`` for picking messages: "sq", "en", "sr-Latn",
    "sr-Cyrl", "it", "de"... ("und" when nothing marks one)."""
    language = detect_language(text)
    if language == "sr":
        return "sr-Cyrl" if is_cyrillic(text) else "sr-Latn"
    return language
