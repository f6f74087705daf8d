"""Facts about each messaging platform that both the relay and the desktop need."""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "HUMAN_AGENT_WINDOW_MS",
    "PLATFORMS",
    "STANDARD_WINDOW_MS",
    "TEXT_LIMITS",
    "ChannelStatus",
    "Platform",
    "WindowState",
    "window_deadline_ms",
    "window_state",
]

Platform = Literal["messenger", "instagram", "whatsapp", "viber", "webchat"]
PLATFORMS: Final[tuple[Platform, ...]] = ("messenger", "instagram", "whatsapp", "viber", "webchat")

#: A channel's state: ``connected`` (new), ``healthy`` (a problem was fixed),
#: ``needs_reconnect`` (the platform refuses its token), ``webhook_failing`` (its
#: messages no longer arrive), ``disconnected`` (gone; only ever in an event).
ChannelStatus = Literal[
    "connected", "disconnected", "healthy", "needs_reconnect", "webhook_failing"
]

#: Longest text one message may carry, in characters (platform-apis.md §2.3, §3, §4.2, §6).
TEXT_LIMITS: Final[dict[Platform, int]] = {
    "messenger": 2000,
    "instagram": 1000,
    "whatsapp": 4096,
    "viber": 7000,
    "webchat": 4000,
}

HOUR_MS: Final = 3_600_000
#: Meta's standard messaging window and WhatsApp's customer-service window.
STANDARD_WINDOW_MS: Final = 24 * HOUR_MS
#: Messenger/Instagram HUMAN_AGENT tag: a person may answer up to 7 days after the last message.
HUMAN_AGENT_WINDOW_MS: Final = 7 * 24 * HOUR_MS

WindowState = Literal["open", "human_agent", "closed"]


def window_state(
    platform: Platform, last_inbound_ms: int | None, now_ms: int, *, human: bool
) -> WindowState:
    """Say whether free text may be sent now, and how.

    ``open``: a normal reply is allowed. ``human_agent``: only a reply a person wrote or
    approved, sent with Meta's HUMAN_AGENT tag. ``closed``: no free text may be sent.
    Viber and web chat have no window; the others need an inbound message first.
    """
    if platform in ("viber", "webchat"):
        return "open"
    if last_inbound_ms is None:
        return "closed"
    age = now_ms - last_inbound_ms
    if age <= STANDARD_WINDOW_MS:
        return "open"
    if platform in ("messenger", "instagram") and human and age <= HUMAN_AGENT_WINDOW_MS:
        return "human_agent"
    return "closed"


def window_deadline_ms(platform: Platform, last_inbound_ms: int | None) -> int | None:
    """When the standard window closes (None: the platform has no window, or none is open)."""
    if platform in ("viber", "webchat") or last_inbound_ms is None:
        return None
    return last_inbound_ms + STANDARD_WINDOW_MS
