"""The drafter for shops without a model: answers from what the shop wrote, never invents.

Each question of the customer's message is matched against the retrieved FAQs, offers and
passages of documents and web pages (``matching``); the best match's measured chance of
being right (``confidence``) decides whether it is answered. One reply answers every
question it can, in the customer's script, and hands the rest to a person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from common.channels import TEXT_LIMITS
from desktop.core.drafting.confidence import ANSWER_AT, probability
from desktop.core.drafting.handoff import (
    early_handoff,
    handoff_draft,
    pending_customer_text,
    request_tag,
)
from desktop.core.drafting.language import detect_language, is_cyrillic
from desktop.core.drafting.matching import (
    Candidate,
    best_of,
    candidates,
    features,
    question_terms,
    split_questions,
)
from desktop.core.drafting.messages import LEAD_INS
from desktop.core.drafting.models import Draft, DraftRequest
from desktop.core.drafting.offers import offer_sentence
from desktop.core.drafting.text import to_cyrillic, to_latin, trim_to_limit
from desktop.core.kb.models import SearchHit
from desktop.core.kb.text import split_sentences

__all__ = [
    "NO_MATCH_REASON",
    "PARTLY_REASON",
    "ExtractiveDrafter",
    "faq_answer",
    "in_script",
    "passage",
]

NO_MATCH_REASON: Final = "no FAQ, offer or document clearly answers the message"
PARTLY_REASON: Final = "part of the message has no clear answer in the knowledge base"

_QA_PREFIX: Final = re.compile(
    r"^\s*(?:q|question|pyetje|pitanje)\s*:.*?\n\s*(?:a|answer|pergjigje|përgjigje|odgovor)\s*:\s*",
    re.IGNORECASE | re.DOTALL,
)
#: Sentences of a document or page quoted at most, and how far a quote may run.
PASSAGE_SENTENCES: Final = 2
PASSAGE_CHARS: Final = 600


def faq_answer(hit: SearchHit) -> str:
    """The answer part of a FAQ chunk (its text without a repeated question or Q:/A: labels)."""
    text = _QA_PREFIX.sub("", hit.text, count=1).strip()
    if hit.title and text.startswith(hit.title):
        rest = text[len(hit.title) :]
        # Only a repeated question line, not an answer that begins with the title's word.
        if hit.title.rstrip().endswith("?") or rest.lstrip(" ")[:1] in ("\n", ":", "—", "-"):
            text = rest.lstrip(" \n:-—").strip()
    return text


def passage(question: str, hit: SearchHit) -> str:
    """The sentences of a document or page chunk that answer ``question``, in their order,
    then where they come from: "… (Size guide, p. 3)"."""
    terms = question_terms(question)
    sentences = split_sentences(hit.text)
    scored = []
    for index, sentence in enumerate(sentences):
        found = candidates(question, [_as_faq(hit, sentence)])[0]
        scored.append((found.coverage, -index, sentence))
    ranked = sorted((s for s in scored if s[0] > 0), reverse=True)
    if not ranked or not terms:
        return ""
    # The best sentence, and the next ones only where they answer nearly as well.
    best = [s for s in ranked if s[0] >= 0.75 * ranked[0][0]][:PASSAGE_SENTENCES]
    quote = " ".join(s for _, _, s in sorted(best, key=lambda s: -s[1]))
    quote = quote if len(quote) <= PASSAGE_CHARS else quote[: PASSAGE_CHARS - 1] + "…"
    where = hit.title + (f", p. {hit.page}" if hit.page else "")
    return f"{quote} ({where})" if where else quote


def _as_faq(hit: SearchHit, text: str) -> SearchHit:
    return SearchHit(
        chunk_id=hit.chunk_id,
        item_id=hit.item_id,
        item_type="faq",
        title="",
        text=text,
        score=hit.score,
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    question: str
    candidate: Candidate | None
    confidence: float
    text: str


class ExtractiveDrafter:
    """Answers with the shop's own words when the match is likely right, else hands off.

    ``answer_at``: least measured chance of being right for an answer to be drafted (see
    ``confidence.ANSWER_AT``); below it the customer gets the hand-off message in their
    language, and the draft's confidence is 0 (it cites nothing).
    """

    def __init__(self, *, answer_at: float = ANSWER_AT) -> None:
        self.answer_at = answer_at

    async def draft(self, request: DraftRequest) -> Draft:
        """Answers to each question of the customer's latest messages, or a hand-off."""
        tag = request_tag(request)
        language = tag.split("-")[0]
        early = early_handoff(request, language=language, drafter="extractive")
        if early is not None:
            return early
        text = pending_customer_text(request.turns)
        usable = [h for h in request.hits if h.item_type in ("faq", "offer", "document", "web")]
        questions = split_questions(text) or [text]
        answers = [self._answer(q, usable, tag) for q in questions]
        if len(answers) > 1 and not any(a.text for a in answers):
            # Split into parts none of which matches: try the message as a whole.
            answers = [self._answer(text, usable, tag)]
        answered = [a for a in answers if a.text]
        if not answered:
            return handoff_draft(
                request, language=language, drafter="extractive", reason=NO_MATCH_REASON
            )
        missing = len(answered) < len(answers)
        parts = list(dict.fromkeys(a.text for a in answered))
        lead_in = LEAD_INS.get(tag if language == "sr" else language)
        if lead_in and any(detect_language(p) not in (language, "und") for p in parts):
            parts.insert(0, lead_in)  # the shop's words are quoted in their own language
        if missing:
            parts.append(request.profile.message("handoff", tag))
        reply = "\n\n".join(parts)
        cited = tuple(dict.fromkeys(a.candidate.hit.chunk_id for a in answered if a.candidate))
        reply_language = detect_language(reply)
        return Draft(
            reply=trim_to_limit(reply, TEXT_LIMITS[request.platform]),
            language=reply_language if reply_language != "und" else language,
            drafter="extractive",
            cited_chunk_ids=cited,
            confidence=round(min(a.confidence for a in answered), 3),
            handoff=missing,
            handoff_reason=PARTLY_REASON if missing else None,
            grounded=True,
        )

    def _answer(self, question: str, hits: Sequence[SearchHit], tag: str) -> _Answer:
        scored = candidates(question, hits)
        if not scored:
            return _Answer(question, None, 0.0, "")
        best, runner_up = best_of(scored)
        if best.coverage == 0:
            return _Answer(question, best, 0.0, "")  # not one word in common
        confidence = probability(features(best, runner_up, hits))
        if confidence < self.answer_at:
            return _Answer(question, best, confidence, "")
        hit = best.hit
        if hit.item_type == "faq":
            text = faq_answer(hit)
        elif hit.item_type == "offer":
            text = offer_sentence(hit, tag)
        else:
            text = passage(question, hit)
        return _Answer(question, best, confidence, in_script(text, tag))


#: Tags of customers who read Cyrillic.
_CYRILLIC_READERS: Final = ("sr-Cyrl", "mk", "ru", "bg", "uk")


def in_script(text: str, tag: str) -> str:
    """Serbian text in the script the customer reads: a Cyrillic question gets Cyrillic, a
    Latin one (Serbian, English, Albanian...) Latin."""
    if tag == "sr-Cyrl" and not is_cyrillic(text) and detect_language(text) == "sr":
        return to_cyrillic(text)
    if tag not in _CYRILLIC_READERS and is_cyrillic(text) and detect_language(text) == "sr":
        return to_latin(text)
    return text
