"""The types every platform sender shares: what to send and where the platform APIs are."""

from __future__ import annotations

from dataclasses import dataclass

from common.channels import Platform

__all__ = ["OutboundText", "PlatformUrls"]


@dataclass(frozen=True, slots=True)
class PlatformUrls:
    """Base URLs of the platform APIs (tests point them at local fakes)."""

    #: Graph API base including the pinned version.
    graph: str = "https://graph.facebook.com/v25.0"
    viber: str = "https://chatapi.viber.com/pa"


@dataclass(frozen=True, slots=True)
class OutboundText:
    """One text reply to send.

    ``external_id``: the Page id (Messenger), the Page or IG account id (Instagram), the
    phone_number_id (WhatsApp); unused for Viber, whose token names the bot.
    ``tag``: ``"HUMAN_AGENT"`` sends a person's reply outside Meta's 24-hour window
    (Messenger/Instagram only; ignored elsewhere). ``reply_to``: platform id of the
    message to quote (Messenger/Instagram ``reply_to.mid``, WhatsApp ``context``).
    ``sender_name``: Viber's required sender name (cut to 28 characters; default "Shop").
    """

    platform: Platform
    external_id: str
    recipient_id: str
    text: str
    reply_to: str | None = None
    tag: str | None = None
    sender_name: str | None = None
