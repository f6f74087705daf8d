"""What only Instagram puts in a Messenger-format message: unsent, unsupported, to self.

Story replies (``reply_to.story``) and story mentions (an attachment of type
``story_mention``) need nothing special: the general message reader keeps both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.events import Event, MessageDeleted
from relay.webhooks.parsing import Head, as_str, unsupported

__all__ = ["instagram_message"]


def instagram_message(message: Mapping[str, Any], mid: str | None, head: Head) -> Event | None:
    """The event for an Instagram-only message shape, or None for an ordinary message."""
    if message.get("is_deleted") is True:
        if mid is None:
            return unsupported(head, "message", "deletion without mid")
        # Same mid as the message it removes: the event kind keeps their dedupe keys apart.
        return MessageDeleted(**head, platform_id=mid, message_id=mid)
    if message.get("is_unsupported") is True:
        return unsupported(
            head,
            "message",
            "unsupported by the platform",
            text=as_str(message.get("text")),
            **({"platform_id": mid} if mid else {}),
        )
    if message.get("is_self") is True:
        # A test message the account sent itself: its "conversation" is with itself.
        return unsupported(
            head, "message", "message to self", **({"platform_id": mid} if mid else {})
        )
    return None
