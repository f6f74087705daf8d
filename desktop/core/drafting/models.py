"""What a drafter is asked (profile, conversation, retrieved chunks) and what it answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from common.channels import Platform
from desktop.core.drafting.messages import (
    DEFAULT_MESSAGES,
    CannedMessages,
    MessageKind,
    canned,
)
from desktop.core.kb.models import SearchHit

__all__ = ["BusinessProfile", "Draft", "DraftRequest", "Drafter", "Turn", "Usage"]


def _default_messages() -> dict[str, CannedMessages]:
    return dict(DEFAULT_MESSAGES)


class BusinessProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The shop as the assistant presents it, and the rules it must keep."""

    name: str
    #: Hand-off, away, courtesy and limit texts per language tag ("sq", "sr-Cyrl"...);
    #: the one matching the customer's message is used (see ``messages.canned``).
    messages: dict[str, CannedMessages] = msgspec.field(default_factory=_default_messages)
    tone: str = "friendly and concise"
    #: Languages the shop answers in, preferred first.
    languages: tuple[str, ...] = ("sq", "sr", "en")
    #: Opening hours as the shop writes them ("Mon–Sat 9–20").
    hours: str | None = None
    #: The shop's own rules for replies ("Never give discounts by chat").
    rules: tuple[str, ...] = ()
    #: Topics a person always handles (see ``intents.TOPIC_PATTERNS`` for the known ones).
    handoff_topics: tuple[str, ...] = ("refund", "complaint")

    def message(self, kind: MessageKind, language: str) -> str:
        """The shop's ``kind`` message in ``language`` (a tag such as "sr-Cyrl")."""
        return canned(self.messages, language, self.languages).get(kind)


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One message of the conversation."""

    role: Literal["customer", "business"]
    text: str
    timestamp_ms: int


class DraftRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a drafter needs: turns oldest first; the trailing customer turns are answered."""

    profile: BusinessProfile
    platform: Platform
    turns: Sequence[Turn]
    hits: Sequence[SearchHit]


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens a draft used (all calls for it together) and what they cost."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A proposed reply, with what it rests on and whether a person must take over.

    ``language`` is the reply's language (for the LLM drafter, the customer's; "und" when
    it could not be told). ``grounded`` means it cites at least one retrieved chunk.
    ``handoff_reason`` says why a person is needed, in words for the owner; ``error`` keeps
    the technical cause when the drafter fell back because something failed (None when
    nothing failed).
    """

    reply: str
    language: str
    drafter: Literal["llm", "extractive"]
    cited_chunk_ids: tuple[str, ...] = ()
    #: The calibrated chance that the draft is right (what is shown and what auto mode
    #: compares with its threshold).
    confidence: float = 0.0
    #: The model's own figure (LLM drafts), kept to refit the calibration.
    model_confidence: float | None = None
    handoff: bool = False
    handoff_reason: str | None = None
    grounded: bool = False
    usage: Usage | None = None
    error: str | None = None


class Drafter(Protocol):
    """Anything that turns a request into a draft; it never raises for a bad answer or outage."""

    async def draft(self, request: DraftRequest) -> Draft: ...
