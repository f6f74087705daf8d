"""The shop's canned messages, one set per language and script, picked from the customer's.

Defaults are written for English, Albanian, Serbian (Latin and Cyrillic), Italian and
German; the owner edits each in Settings. A message in a language with no set of its own
gets the shop's first language's set (then English).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from common.language import message_language

__all__ = [
    "DEFAULT_MESSAGES",
    "LEAD_INS",
    "MESSAGE_LANGUAGES",
    "CannedMessages",
    "MessageKind",
    "canned",
    "message_language",
]

MessageKind = Literal["handoff", "away", "courtesy", "limit"]


class CannedMessages(msgspec.Struct, frozen=True, kw_only=True):
    """What the assistant sends without drafting, in one language."""

    #: A person will take over (the assistant could not or must not answer).
    handoff: str
    #: Outside opening hours.
    away: str
    #: The message was received and waits for a person (auto mode, a draft held back).
    courtesy: str
    #: Automatic replies are paused (a plan's limit or the AI budget is used up).
    limit: str

    def get(self, kind: MessageKind) -> str:
        return str(getattr(self, kind))


#: Language tags with default texts: ISO 639-1, Serbian split by script.
MESSAGE_LANGUAGES: Final = ("en", "sq", "sr-Latn", "sr-Cyrl", "it", "de")

DEFAULT_MESSAGES: Final[dict[str, CannedMessages]] = {
    "en": CannedMessages(
        handoff="Thank you! A member of our team will answer you shortly.",
        away="Thank you for your message! We are closed now and will answer when we open.",
        courtesy="Thank you for your message! We will answer you shortly.",
        limit="Thank you for your message! A member of our team will answer you as soon as "
        "possible.",
    ),
    "sq": CannedMessages(
        handoff="Faleminderit! Një koleg nga ekipi ynë do t'ju përgjigjet së shpejti.",
        away="Faleminderit për mesazhin! Tani jemi të mbyllur dhe do t'ju përgjigjemi kur "
        "të hapim.",
        courtesy="Faleminderit për mesazhin! Do t'ju përgjigjemi së shpejti.",
        limit="Faleminderit për mesazhin! Një koleg nga ekipi ynë do t'ju përgjigjet sa më "
        "shpejt që të jetë e mundur.",
    ),
    "sr-Latn": CannedMessages(
        handoff="Hvala! Neko iz našeg tima će vam uskoro odgovoriti.",
        away="Hvala na poruci! Sada smo zatvoreni i odgovorićemo vam kada otvorimo.",
        courtesy="Hvala na poruci! Odgovorićemo vam uskoro.",
        limit="Hvala na poruci! Neko iz našeg tima će vam odgovoriti što je pre moguće.",
    ),
    "sr-Cyrl": CannedMessages(
        handoff="Хвала! Неко из нашег тима ће вам ускоро одговорити.",
        away="Хвала на поруци! Сада смо затворени и одговорићемо вам када отворимо.",
        courtesy="Хвала на поруци! Одговорићемо вам ускоро.",
        limit="Хвала на поруци! Неко из нашег тима ће вам одговорити што је пре могуће.",
    ),
    "it": CannedMessages(
        handoff="Grazie! Un membro del nostro staff le risponderà a breve.",
        away="Grazie per il messaggio! Ora siamo chiusi e le risponderemo quando apriamo.",
        courtesy="Grazie per il messaggio! Le risponderemo a breve.",
        limit="Grazie per il messaggio! Un membro del nostro staff le risponderà appena possibile.",
    ),
    "de": CannedMessages(
        handoff="Danke! Jemand aus unserem Team antwortet Ihnen in Kürze.",
        away="Danke für Ihre Nachricht! Wir haben gerade geschlossen und antworten, sobald "
        "wir öffnen.",
        courtesy="Danke für Ihre Nachricht! Wir antworten Ihnen in Kürze.",
        limit="Danke für Ihre Nachricht! Jemand aus unserem Team antwortet Ihnen so bald wie "
        "möglich.",
    ),
}


#: Said first, in the customer's language, when the shop's answer is written in another
#: one (it is quoted, not translated): the customer knows the text that follows is the
#: shop's own.
LEAD_INS: Final[dict[str, str]] = {
    "en": "Here is what the shop has written about this:",
    "sq": "Ja çfarë ka shkruar dyqani për këtë:",
    "sr-Latn": "Evo šta je prodavnica napisala o tome:",
    "sr-Cyrl": "Ево шта је продавница написала о томе:",
    "it": "Ecco che cosa ha scritto il nostro negozio:",
    "de": "Das hat das Geschäft dazu geschrieben:",
}


def canned(
    table: Mapping[str, CannedMessages], language: str, fallbacks: tuple[str, ...] = ()
) -> CannedMessages:
    """The set for ``language`` (a tag, or a bare "sr"), else for the first of ``fallbacks``
    that has one, else English (the owner's table first, the defaults after it)."""
    wanted = [language, "sr-Latn" if language == "sr" else language]
    wanted += ["sr-Latn" if f == "sr" else f for f in fallbacks]
    wanted.append("en")
    for tag in wanted:
        found = table.get(tag) or DEFAULT_MESSAGES.get(tag)
        if found is not None:
            return found
    return DEFAULT_MESSAGES["en"]
