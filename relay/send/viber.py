"""Viber REST Bot API: send a text, register the webhook, read the bot's account info.

Viber answers HTTP 200 with a ``status`` number in the body; 0 is success. The
``message_token`` is a 64-bit integer: responses are decoded so it stays an exact int
(never a float) and it is handed on as its decimal string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Literal

import httpx
import msgspec

from common.protocol import SendErrorCode
from relay.send.errors import SendError, network_error, redact, retry_after_seconds
from relay.send.types import OutboundText

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "DEFAULT_SENDER_NAME",
    "MAX_REQUEST_BYTES",
    "SENDER_NAME_LIMIT",
    "account_info",
    "send_text",
    "set_webhook",
    "viber_error",
]

DEFAULT_SENDER_NAME: Final = "Shop"
SENDER_NAME_LIMIT: Final = 28
#: Viber refuses requests over 30 KB (platform-apis.md §6).
MAX_REQUEST_BYTES: Final = 30_000
DEFAULT_EVENT_TYPES: Final[tuple[str, ...]] = (
    "delivered",
    "seen",
    "failed",
    "subscribed",
    "unsubscribed",
    "conversation_started",
)
#: The 100-messages-per-user-per-hour limit (status 12) is a rolling hour: an hour of
#: silence is surely enough, and a reply from the customer lifts it sooner.
TOO_MANY_RETRY_AFTER_S: Final = 3600.0

_ENCODER: Final = msgspec.json.Encoder()
Action = Literal["send", "set_webhook", "account_info"]


class ViberStatus(msgspec.Struct, frozen=True):
    status: int
    status_message: str = ""
    # A number on success; the doc's "too many requests" sample shows a string.
    message_token: int | str | None = None


async def send_text(http: httpx.AsyncClient, base: str, token: str, out: OutboundText) -> str:
    """Send ``out`` to a subscribed Viber user; return ``str(message_token)``.

    Viber has no reply quoting and no window, so ``reply_to`` and ``tag`` are ignored.
    """
    name = (out.sender_name or "").strip()[:SENDER_NAME_LIMIT] or DEFAULT_SENDER_NAME
    body = {
        "receiver": out.recipient_id,
        "min_api_version": 1,
        "sender": {"name": name},
        "type": "text",
        "text": out.text,
    }
    encoded = _ENCODER.encode(body)
    if len(encoded) > MAX_REQUEST_BYTES:
        raise SendError(
            "too_long",
            "The reply is too large for one Viber message (30 KB); split it into several.",
        )
    result = await _call(http, base, token, "send_message", encoded, action="send")
    if result.message_token is None:
        raise SendError(
            "platform_error",
            "Viber accepted the message but its answer was unreadable.",
            detail="status 0 without message_token",
        )
    return str(result.message_token)


async def set_webhook(
    http: httpx.AsyncClient,
    base: str,
    token: str,
    url: str,
    event_types: Sequence[str] = DEFAULT_EVENT_TYPES,
) -> None:
    """Point the bot's callbacks at ``url`` (``""`` removes the webhook).

    Viber checks the URL by POSTing an ``event: webhook`` callback there first and only
    succeeds when that answers 200, so the relay must already serve it.
    """
    body = {
        "url": url,
        "event_types": list(event_types),
        "send_name": True,
        "send_photo": True,
    }
    await _call(http, base, token, "set_webhook", _ENCODER.encode(body), action="set_webhook")


async def account_info(http: httpx.AsyncClient, base: str, token: str) -> dict[str, Any]:
    """The bot's public details: ``id``, ``name``, ``uri``, ``icon``, ``webhook``, ..."""
    content = await _post(http, base, token, "get_account_info", b"{}")
    _check(content, token, action="account_info")
    # The stdlib parser keeps every integer exact; the struct above only checked status.
    data = json.loads(content)
    if not isinstance(data, dict):
        raise SendError("platform_error", "Viber's answer was unreadable.", detail="not an object")
    return data


async def _call(
    http: httpx.AsyncClient, base: str, token: str, endpoint: str, body: bytes, *, action: Action
) -> ViberStatus:
    content = await _post(http, base, token, endpoint, body)
    return _check(content, token, action=action)


async def _post(
    http: httpx.AsyncClient, base: str, token: str, endpoint: str, body: bytes
) -> bytes:
    url = f"{base.rstrip('/')}/{endpoint}"
    headers = {"X-Viber-Auth-Token": token, "Content-Type": "application/json"}
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.TransportError as exc:
        raise network_error("viber", exc) from None
    if response.is_success:
        return response.content
    detail = f"HTTP {response.status_code}"
    retry_after = retry_after_seconds(response.headers)
    if response.status_code == 429:
        raise SendError(
            "rate_limited",
            "Viber is limiting how fast messages can be sent; try again shortly.",
            transient=True,
            retry_after_s=retry_after,
            detail=detail,
        )
    if response.status_code >= 500:
        raise SendError(
            "platform_error",
            "Viber had a temporary problem; try again in a moment.",
            transient=True,
            retry_after_s=retry_after,
            detail=detail,
        )
    raise SendError("platform_error", f"Viber refused the request ({detail}).", detail=detail)


def _check(content: bytes, token: str, *, action: Action) -> ViberStatus:
    try:
        result = msgspec.json.decode(content, type=ViberStatus)
    except msgspec.DecodeError:
        raise SendError(
            "platform_error", "Viber's answer was unreadable.", detail="no status in the body"
        ) from None
    if result.status != 0:
        raise viber_error(result.status, redact(result.status_message, (token,)), action)
    return result


#: Viber's non-zero statuses: (statuses, our code, what the owner reads). The first match
#: wins; the webhook's status 1 is told apart before these (see ``viber_error``).
_STATUS_ERRORS: Final[tuple[tuple[frozenset[int], SendErrorCode, str], ...]] = (
    (
        frozenset({2, 8}),
        "token_invalid",
        "Viber no longer accepts this bot's token. Paste a fresh token to reconnect.",
    ),
    (
        frozenset({5, 6, 11}),
        "recipient_unavailable",
        "This customer can't receive Viber messages from the shop (they unsubscribed, "
        "left Viber, or have no device that can show it).",
    ),
    (
        frozenset({12}),
        "rate_limited",
        "Viber allows 100 messages an hour to a customer who hasn't replied; wait for "
        "their reply or try again later.",
    ),
    (frozenset({1, 3, 4, 13, 14}), "bad_request", "Viber rejected the request as malformed."),
    (
        frozenset({7, 9, 15}),
        "platform_error",
        "Viber has blocked or suspended this bot account; contact Viber support.",
    ),
    (
        frozenset({10}),
        "platform_error",
        "Viber has no webhook for this bot; reconnect the channel.",
    ),
    (
        frozenset({23, 24}),
        "platform_error",
        "The Viber bot account has no message balance left; top it up with Viber.",
    ),
)


def viber_error(status: int, status_message: str, action: Action = "send") -> SendError:
    """Map a non-zero Viber ``status`` to a SendError (branch on the number, not the text)."""
    detail = f"status={status}: {status_message}"
    code: SendErrorCode = "platform_error"
    message = f"Viber refused the request (status {status})."
    if status == 1 and action == "set_webhook":
        code, message = (
            "bad_request",
            "Viber could not reach the relay's webhook address; check that it is public "
            "and uses HTTPS with a valid certificate.",
        )
    else:
        for statuses, code_, message_ in _STATUS_ERRORS:
            if status in statuses:
                code, message = code_, message_
                break
    # Status 12 is not transient: retrying within seconds cannot help a per-hour limit.
    return SendError(
        code,
        message,
        retry_after_s=TOO_MANY_RETRY_AFTER_S if status == 12 else None,
        platform_code=status,
        detail=detail,
    )
