"""Reading the conversation to answer, and the hand-offs decided before any drafting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from desktop.core.drafting.intents import handoff_topic, wants_human
from desktop.core.drafting.language import detect_language, is_cyrillic
from desktop.core.drafting.messages import message_language
from desktop.core.drafting.models import Draft, DraftRequest, Turn, Usage

__all__ = [
    "ASKED_FOR_PERSON",
    "conversation_language",
    "conversation_tag",
    "early_handoff",
    "handoff_draft",
    "pending_customer_text",
    "request_tag",
]

ASKED_FOR_PERSON = "customer asked for a person"


def pending_customer_text(turns: Sequence[Turn]) -> str:
    """The customer's messages since the business last wrote, joined by newlines."""
    pending: list[str] = []
    for turn in reversed(turns):
        if turn.role == "business":
            break
        pending.append(turn.text)
    return "\n".join(reversed(pending)).strip()


def conversation_language(turns: Sequence[Turn]) -> str:
    """The language of the customer's latest messages, or of earlier ones when those are mute.

    "ok 👍" says nothing; the conversation before it usually does. "und" if none does.
    """
    latest = detect_language(pending_customer_text(turns))
    if latest != "und":
        return latest
    for turn in reversed(turns):
        if turn.role == "customer":
            language = detect_language(turn.text)
            if language != "und":
                return language
    return "und"


def conversation_tag(
    turns: Sequence[Turn], fallbacks: Sequence[str] = (), context: Sequence[str] = ()
) -> str:
    """The language tag of the customer's latest messages ("sq", "sr-Cyrl", "en"...), or of
    earlier ones when those are mute; else that of ``context`` (the knowledge their words
    found, written in the shop's language); else the shop's first language ("und" if none).
    """
    pending = pending_customer_text(turns)
    tag = message_language(pending)
    if tag != "und":
        return tag
    for turn in reversed(turns):
        if turn.role == "customer":
            tag = message_language(turn.text)
            if tag != "und":
                return tag
    if context:
        tag = message_language(" ".join(context))
        if tag != "und":
            return tag
    if fallbacks:
        first = fallbacks[0]
        if first == "sr":
            return "sr-Cyrl" if is_cyrillic(pending) else "sr-Latn"
        return first
    return "und"


def request_tag(request: DraftRequest) -> str:
    """The customer's language tag for a draft request (see :func:`conversation_tag`)."""
    context = [f"{h.title} {h.text[:300]}" for h in request.hits[:3]]
    return conversation_tag(request.turns, request.profile.languages, context)


def handoff_draft(
    request: DraftRequest,
    *,
    language: str,
    drafter: Literal["llm", "extractive"],
    reason: str,
    error: str | None = None,
    usage: Usage | None = None,
) -> Draft:
    """A draft that hands the conversation to a person, with the shop's hand-off message in
    the customer's language and script."""
    tag = request_tag(request)
    return Draft(
        reply=request.profile.message("handoff", tag),
        language=language,
        drafter=drafter,
        handoff=True,
        handoff_reason=reason,
        usage=usage,
        error=error,
    )


def early_handoff(
    request: DraftRequest, *, language: str, drafter: Literal["llm", "extractive"]
) -> Draft | None:
    """A hand-off decided from the customer's words alone (no model call), or None."""
    text = pending_customer_text(request.turns)
    if not text:
        return handoff_draft(
            request, language=language, drafter=drafter, reason="no customer message to answer"
        )
    if wants_human(text):
        return handoff_draft(request, language=language, drafter=drafter, reason=ASKED_FOR_PERSON)
    topic = handoff_topic(text, request.profile.handoff_topics)
    if topic is not None:
        return handoff_draft(
            request, language=language, drafter=drafter, reason=f"handoff topic: {topic}"
        )
    return None
