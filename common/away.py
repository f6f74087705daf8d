"""The away reply: what the desktop tells the relay to answer while no device is connected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final

import msgspec

from common.language import message_language

__all__ = ["DEFAULT_AWAY_MINUTES", "AwayChannel", "AwayMessages", "AwaySettings", "pick_message"]

#: Minutes without a connected device before the relay answers for the shop.
DEFAULT_AWAY_MINUTES: Final = 10

_Minutes = Annotated[int, msgspec.Meta(ge=0, le=7 * 24 * 60)]
_Tag = Annotated[str, msgspec.Meta(min_length=2, max_length=16)]
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class AwayChannel(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's switch: ``PUT /v1/away/channels/{channel_id}``. Off by default."""

    enabled: bool = False
    minutes: _Minutes = DEFAULT_AWAY_MINUTES


class AwayMessages(msgspec.Struct, frozen=True, kw_only=True):
    """The shop's away texts per language tag (``PUT /v1/away/messages``);
    ``default_language`` answers a message whose language has no text or is unclear."""

    default_language: _Tag = "en"
    messages: dict[_Tag, _Text] = msgspec.field(default_factory=dict)


class AwaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/away``: the texts and every channel's switch (absent: off)."""

    messages: AwayMessages
    channels: dict[str, AwayChannel] = msgspec.field(default_factory=dict)
    #: Whether a device of the business has its stream open now (the relay then waits).
    connected: bool = False


def pick_message(messages: AwayMessages, customer_text: str) -> str | None:
    """The text in the customer's language (Serbian by script, then bare "sr"), else in
    the shop's default language, else None (nothing to send)."""
    table: Mapping[str, str] = messages.messages
    tag = message_language(customer_text) if customer_text.strip() else "und"
    for wanted in (tag, tag.split("-")[0], messages.default_language):
        if wanted in table:
            return table[wanted]
    if tag.startswith("sr"):
        for other in ("sr-Latn", "sr-Cyrl"):
            if other in table:
                return table[other]
    return None
