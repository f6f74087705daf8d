"""WhatsApp Cloud API: send one free-form text message from a business phone number."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from relay.send.meta import graph_post, node_url, unreadable_success
from relay.send.types import OutboundText

__all__ = ["send_text"]


class _MessageRef(msgspec.Struct, frozen=True):
    id: str


class WhatsAppSendResponse(msgspec.Struct, frozen=True):
    messages: list[_MessageRef]


async def send_text(http: httpx.AsyncClient, base: str, token: str, out: OutboundText) -> str:
    """Send ``out`` to a WhatsApp user; return the wamid.

    WhatsApp has no message tags, so ``out.tag`` is ignored: outside the 24-hour window
    only templates may be sent and the platform answers 131047 (``window_closed``).
    """
    # Link previews stay off: a preview of a URL the assistant wrote could show content
    # the shop never checked.
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": out.recipient_id,
    }
    if out.reply_to is not None:
        body["context"] = {"message_id": out.reply_to}
    body["type"] = "text"
    body["text"] = {"preview_url": False, "body": out.text}
    url = node_url(base, out.external_id, "messages")
    content = await graph_post(http, url, token, body, "whatsapp")
    try:
        messages = msgspec.json.decode(content, type=WhatsAppSendResponse).messages
    except msgspec.DecodeError:
        raise unreadable_success("whatsapp") from None
    if not messages:
        raise unreadable_success("whatsapp")
    return messages[0].id
