"""What a message asks for that decides a hand-off: a person, a sensitive topic, a promise."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from desktop.core.drafting.text import fold

__all__ = ["TOPIC_PATTERNS", "handoff_topic", "promises_follow_up", "wants_human"]


def _compile(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# All patterns run on folded text (lower case, Cyrillic → Latin, no diacritics), so
# "хоћу да причам са човеком" and "hocu da pricam sa covekom" are the same string.
_PERSON_EN: Final = (
    r"human|person|people|someone|somebody|agent|operator|representative|rep|manager|owner"
    r"|staff|employee|real one"
)
_PERSON_SQ: Final = (
    r"njeri|njeriu|njeriun|njerez\w*|person|personi|personin|dike|diken|dikend|agjent\w*"
    r"|operator\w*|punonj\w*|punetor\w*|pronar\w*|menaxher\w*|stafi|stafin|shites\w*"
)
_PERSON_SR: Final = (
    r"covek\w*|coveck\w*|ljud\w*|osob(a|u|om|e)|nekim|operater\w*|operator\w*|agent\w*|zaposlen\w*"
    r"|vlasnik\w*|menadzer\w*|radnik\w*|prodavac\w*|prodavc\w*|zivim"
)
_HUMAN: Final = _compile(
    # English
    rf"\b(talk|speak|chat|connect|transfer|put)\b.{{0,30}}\b({_PERSON_EN})\b",
    r"\b(want|need|get me|give me)\b.{0,20}"
    r"\b(human|real person|agent|operator|representative|manager)\b",
    r"\b(real|live|actual) (human|person|agent|people)\b",
    r"\bhuman (agent|being|please)\b",
    r"\b(not|no) (a )?(bot|robot)s?\b",
    # Albanian
    rf"\b(flas|flasim|fol|foli|bisedoj|bisedojme|komunikoj|lidh|lidhni|lidhe|lidhmeni|lidhuni|kontaktoj)\b.{{0,30}}\b({_PERSON_SQ})\b",
    r"\b(dua|due|duam|deshiroj|kerkoj|mundem)\b.{0,25}\b(njeri\w*|person|personi|personin|agjent\w*|operator\w*)\b",
    r"\b(njeri|person) (real|i vertete|te vertete)\b",
    # Serbian
    r"\b(pricam|pricati|pricao|razgovaram|razgovarati|govorim|govoriti|cujem|spoj\w*|povez\w*"
    rf"|prebac\w*)\b.{{0,30}}\b({_PERSON_SR})\b",
    r"\b(treba mi|trebam|hocu|hoce mi se|zelim|daj\w*( mi)?)\b.{0,20}"
    r"\b(covek\w*|osob(a|u|om|e)|operater\w*|agent\w*)\b",
    r"\b(ziv\w*|prav\w*|stvarn\w*) (covek\w*|osob(a|u|om|e)|ljud\w*|operater\w*)\b",
    # A message that is only the request: "agent", "operator pls", "njeri ju lutem".
    r"^\W*(agent|agjent|operator|operater|operatore|human|njeri|covek|covece|osoba|person|representative)"
    r"\W*(please|pls|plz|ju lutem|te lutem|molim( vas)?)?\W*$",
)


def wants_human(text: str) -> bool:
    """Whether the customer asks to talk to a person (English, Albanian, Serbian)."""
    return _HUMAN.search(fold(text)) is not None


#: Hand-off topics this module recognises in all three languages. A profile may name others;
#: those are matched by their own words.
TOPIC_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "refund": _compile(
        r"\brefund\w*",
        r"\bmoney back\b",
        r"\breimburs\w*",
        r"\bchargeback",
        r"\brimburs\w*",
        r"\bkthim\w*( e| i)? (te )?par\w*",
        r"\bkthe\w* (e |te )?par(at|ate|ane|en|ave|ash|et)\b",
        r"\bparat?( e mia)? mbrapsht?\b",
        r"\bpovra(c|t)\w*( mog| moj\w*)? (novc|novac|novca|para|pare)\w*",
        r"\bpovracaj\w*",
        r"\bvrat\w* (mi )?(moj\w* )?(novac|novca|novce|pare|paru)\b",
        r"\bvracanj\w* (novc\w*|para|pare)",
        r"\brefundacij\w*",
    ),
    "complaint": _compile(
        r"\bcomplain\w*",
        r"\bankes\w*",
        r"\bankoh\w*",
        r"\bi pakenaqur\b",
        r"\bzalb\w*",
        r"\breklamacij\w*",
        r"\bnezadovolj\w*",
    ),
    "cancellation": _compile(
        r"\bcancel\w*",
        r"\banul\w*",
        r"\botkaz\w*",
        r"\bponist\w*",
    ),
    "warranty": _compile(
        r"\bwarrant\w*",
        r"\bguarant\w*",
        r"\bgaranci\w*",
        r"\bgarancij\w*",
    ),
    "damaged": _compile(
        r"\b(damaged|broken|defective|faulty)\b",
        r"\b(i )?(prishur|demtuar|thyer)\b",
        r"\b(ostecen\w*|pokvaren\w*|polomljen\w*|neispravn\w*)\b",
    ),
}


def handoff_topic(text: str, topics: Iterable[str]) -> str | None:
    """The first of ``topics`` that ``text`` is about, or None.

    Known topics (see :data:`TOPIC_PATTERNS`) match in English, Albanian and Serbian; any
    other topic matches when its own words (folded, as word prefixes) appear in the text.
    """
    folded = fold(text)
    for topic in topics:
        pattern = TOPIC_PATTERNS.get(topic.strip().lower())
        if pattern is None:
            terms = [re.escape(t) for t in fold(topic).split() if t]
            if not terms:
                continue
            pattern = re.compile(r"\b" + r"\s+".join(terms))
        if pattern.search(folded):
            return topic
    return None


_PROMISE: Final = _compile(
    # English: "I'll call you tomorrow", "we will get back to you", "let me check and ..."
    r"\b(i|we)( will|'ll|’ll| shall| are going to)\b.{0,40}"
    r"\b(call|phone|contact|get back|check|let you know|reach out|follow up|e-?mail|text you"
    r"|message you|notify)\b",
    r"\bget back to you\b",
    r"\blet me (check|find out|ask)\b",
    # Albanian: "do t'ju telefonojmë", "do t'ju kthehemi", "do ta kontrollojmë"
    r"\bdo t\W?\s*(ju |jua |ua |ta |i )?"
    r"(telefonoj|kontaktoj|lajmeroj|njoftoj|kthehe|shkruaj|kontrolloj|verifikoj|shikoj|pyes)\w*",
    # Serbian: "javićemo vam se", "pozvaćemo vas", "proverićemo", "ću vas nazvati"
    r"\b(javicemo|javicu|pozvacemo|pozvacu|nazvacemo|nazvacu|proveri(cemo|cu)"
    r"|kontaktiracemo|kontaktiracu|obavesticemo|obavesticu|pitacu|pitacemo)\b",
    r"\b(cu|cemo) (vas|vam|te|ti) (pozvati|nazvati|javiti|kontaktirati|obavestiti)\b",
    r"\b(javim|javimo) (vam|ti) se\b",
)


def promises_follow_up(reply: str) -> bool:
    """Whether a reply promises the shop will do something later (call, check, get back).

    Such a reply needs a person to approve it: the assistant cannot keep the promise.
    """
    return _PROMISE.search(fold(reply)) is not None
