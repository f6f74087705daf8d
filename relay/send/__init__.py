"""Outbound platform clients: send one text reply through Messenger, Instagram, WhatsApp or Viber.

``send_text`` makes one attempt and raises ``SendError`` with a typed code;
``send_with_retry`` adds backoff for transient failures. Credentials are plain strings
here (the caller decrypts them) and never appear in an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

import httpx

from common.channels import TEXT_LIMITS
from relay.send import meta, viber, whatsapp
from relay.send.errors import PLATFORM_NAMES, SendError, too_long
from relay.send.retry import Sleep, retry_transient
from relay.send.types import OutboundText, PlatformUrls

#: The longest wait between two attempts of one send (a platform's Retry-After is capped).
MAX_BACKOFF_S: Final = 8.0

__all__ = [
    "MAX_BACKOFF_S",
    "OutboundText",
    "PlatformUrls",
    "SendError",
    "send_text",
    "send_with_retry",
    "viber_account_info",
    "viber_set_webhook",
]


async def send_text(
    http: httpx.AsyncClient, urls: PlatformUrls, credentials: Mapping[str, str], out: OutboundText
) -> str:
    """Make one send attempt and return the platform's message id.

    Messenger/Instagram/WhatsApp read ``credentials["access_token"]``, Viber
    ``credentials["auth_token"]``. Raises ``SendError``; ``too_long`` and other local
    refusals are raised before any request is made.
    """
    if out.platform == "webchat":
        raise ValueError("web chat replies are delivered by the relay itself, not a platform")
    if not out.text.strip():
        raise SendError("bad_request", "The reply is empty.")
    if len(out.text) > TEXT_LIMITS[out.platform]:
        raise too_long(out.platform, len(out.text))
    if not out.recipient_id:
        raise SendError("bad_request", "The reply has no recipient.")
    if out.platform == "viber":
        return await viber.send_text(http, urls.viber, _credential(credentials, out), out)
    token = _credential(credentials, out)
    if out.platform == "whatsapp":
        return await whatsapp.send_text(http, urls.graph, token, out)
    return await meta.send_text(http, urls.graph, token, out)


async def send_with_retry(
    http: httpx.AsyncClient,
    urls: PlatformUrls,
    credentials: Mapping[str, str],
    out: OutboundText,
    *,
    attempts: int = 4,
    base_delay_s: float = 0.25,
    max_delay_s: float = MAX_BACKOFF_S,
    sleep: Sleep = asyncio.sleep,
) -> str:
    """``send_text`` retried on transient SendErrors (full-jitter backoff, ``Retry-After``
    honoured up to ``max_delay_s``); the last error is re-raised. ``sleep`` is the wait
    function, replaceable so callers can observe or bound the delays.
    """
    return await retry_transient(
        lambda: send_text(http, urls, credentials, out),
        attempts=attempts,
        base_delay_s=base_delay_s,
        max_delay_s=max_delay_s,
        sleep=sleep,
    )


async def viber_set_webhook(
    http: httpx.AsyncClient, urls: PlatformUrls, auth_token: str, url: str
) -> None:
    """Register ``url`` as the bot's webhook (Viber calls it back first); SendError on failure."""
    await viber.set_webhook(http, urls.viber, auth_token, url)


async def viber_account_info(
    http: httpx.AsyncClient, urls: PlatformUrls, auth_token: str
) -> dict[str, Any]:
    """The bot's account details (``id``, ``name``, ``icon``, ...); SendError on failure."""
    return await viber.account_info(http, urls.viber, auth_token)


def _credential(credentials: Mapping[str, str], out: OutboundText) -> str:
    key = "auth_token" if out.platform == "viber" else "access_token"
    token = credentials.get(key)
    if not token:
        raise SendError(
            "token_invalid",
            f"The {PLATFORM_NAMES[out.platform]} channel has no saved credential. "
            "Reconnect the channel.",
        )
    return token
