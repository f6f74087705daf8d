"""Meta's Graph API: the shared request and error mapping, and the Messenger/Instagram Send API.

The token travels in ``Authorization: Bearer`` rather than the ``access_token`` query
parameter of Meta's samples: Graph accepts both, and a token kept out of the URL cannot
leak through logs that print URLs (httpx logs every request URL at INFO), exception texts
or proxies.
"""

from __future__ import annotations

import re
from typing import Any, Final

import httpx
import msgspec

from common.channels import Platform
from relay.send.errors import (
    PLATFORM_NAMES,
    SendError,
    network_error,
    redact,
    retry_after_seconds,
)
from relay.send.types import OutboundText

__all__ = ["graph_error", "graph_post", "node_url", "send_text", "unreadable_success"]

# Graph codes, matched on (code, subcode) and never on HTTP status: the same code comes
# back as 400, 403 or 429 depending on product and version (platform-apis.md §4.2).
_TOKEN_CODES: Final = frozenset({102, 104, 190})
_RATE_LIMIT_CODES: Final = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
_WINDOW_SUBCODES: Final = frozenset({2018278, 2018065, 1545041})
_TRANSIENT_CODES: Final = frozenset({1, 2})
_BAD_REQUEST_CODES: Final = frozenset({100, 131008, 131009})
_UNAVAILABLE_CODES: Final = frozenset({551, 131026})
_NO_MATCHING_USER: Final = 2018001
_NODE_ID: Final = re.compile(r"[A-Za-z0-9_-]+")
_ENCODER: Final = msgspec.json.Encoder()


class GraphErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    message: str = ""
    type: str = ""
    code: int | None = None
    error_subcode: int | None = None
    error_user_msg: str | None = None
    error_data: Any = None
    fbtrace_id: str | None = None
    is_transient: bool | None = None


class GraphErrorBody(msgspec.Struct, frozen=True):
    error: GraphErrorDetail


class MessengerSendResponse(msgspec.Struct, frozen=True):
    message_id: str
    recipient_id: str | None = None


def node_url(base: str, node_id: str, edge: str) -> str:
    """``{base}/{node_id}/{edge}``, refusing ids that could change the path."""
    if not _NODE_ID.fullmatch(node_id):
        raise SendError("bad_request", "The channel's account id is malformed; reconnect it.")
    return f"{base.rstrip('/')}/{node_id}/{edge}"


async def graph_post(
    http: httpx.AsyncClient, url: str, token: str, body: object, platform: Platform
) -> bytes:
    """POST a JSON body to Graph; return the 2xx body or raise the mapped SendError."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        response = await http.post(url, content=_ENCODER.encode(body), headers=headers)
    except httpx.TransportError as exc:
        raise network_error(platform, exc) from None
    if response.is_success:
        return response.content
    raise graph_error(
        platform, response.status_code, response.headers, response.content, secrets=(token,)
    )


def graph_error(
    platform: Platform,
    status: int,
    headers: httpx.Headers,
    content: bytes,
    *,
    secrets: tuple[str, ...],
) -> SendError:
    """Map a Graph error response (any product) to a SendError."""
    retry_after = retry_after_seconds(headers)
    try:
        error: GraphErrorDetail | None = msgspec.json.decode(content, type=GraphErrorBody).error
    except msgspec.DecodeError:
        error = None
    name = PLATFORM_NAMES[platform]
    if error is None:
        detail = f"HTTP {status}, no Graph error object"
        if status == 429:
            return _rate_limited(name, retry_after, None, detail)
        if status >= 500:
            return SendError(
                "platform_error",
                f"{name} had a temporary problem; try again in a moment.",
                transient=True,
                retry_after_s=retry_after,
                detail=detail,
            )
        return SendError(
            "platform_error", f"{name} refused the message (HTTP {status}).", detail=detail
        )

    code, subcode = error.code, error.error_subcode
    detail = redact(_describe(status, error), secrets)
    if code in _TOKEN_CODES:
        return SendError(
            "token_invalid",
            f"{name} no longer accepts this channel's access. Reconnect the channel.",
            platform_code=code,
            detail=detail,
        )
    if code in _UNAVAILABLE_CODES or (code == 100 and subcode == _NO_MATCHING_USER):
        return SendError(
            "recipient_unavailable",
            f"This customer can't receive messages on {name} right now (they may have "
            "blocked the shop, or their account is gone).",
            platform_code=code,
            detail=detail,
        )
    if code == 131047 or (
        code == 10
        and (subcode in _WINDOW_SUBCODES or "outside of allowed window" in error.message.lower())
    ):
        return SendError(
            "window_closed",
            "The 24-hour reply window has closed; the customer must write again first.",
            platform_code=code,
            detail=detail,
        )
    if code in _RATE_LIMIT_CODES:
        return _rate_limited(name, retry_after, code, detail)
    if code in _BAD_REQUEST_CODES:
        return SendError(
            "bad_request",
            f"{name} rejected the message as malformed.",
            platform_code=code,
            detail=detail,
        )
    if code in _TRANSIENT_CODES or status >= 500 or error.is_transient:
        return SendError(
            "platform_error",
            f"{name} had a temporary problem; try again in a moment.",
            transient=True,
            retry_after_s=retry_after,
            platform_code=code,
            detail=detail,
        )
    return SendError(
        "platform_error",
        f"{name} refused the message (error {code}).",
        platform_code=code,
        detail=detail,
    )


def _rate_limited(name: str, retry_after: float | None, code: int | None, detail: str) -> SendError:
    return SendError(
        "rate_limited",
        f"{name} is limiting how fast messages can be sent; try again shortly.",
        transient=True,
        retry_after_s=retry_after,
        platform_code=code,
        detail=detail,
    )


def _describe(status: int, error: GraphErrorDetail) -> str:
    parts = [f"HTTP {status}", f"code={error.code}"]
    if error.error_subcode is not None:
        parts.append(f"subcode={error.error_subcode}")
    if error.fbtrace_id:
        parts.append(f"fbtrace_id={error.fbtrace_id}")
    text = error.message
    if isinstance(error.error_data, dict) and isinstance(error.error_data.get("details"), str):
        text = f"{text} ({error.error_data['details']})"
    return f"{' '.join(parts)}: {text}"


async def send_text(http: httpx.AsyncClient, base: str, token: str, out: OutboundText) -> str:
    """Send one text with the Messenger Send API (Instagram uses the same call); return its mid."""
    body: dict[str, Any] = {"recipient": {"id": out.recipient_id}}
    if out.tag is None:
        body["messaging_type"] = "RESPONSE"
    elif out.tag == "HUMAN_AGENT":
        body["messaging_type"] = "MESSAGE_TAG"
        body["tag"] = "HUMAN_AGENT"
    else:
        # Other tags are retired or promotional-only (error 100 since April 2026).
        raise SendError("bad_request", f"Message tag {out.tag!r} is not supported.")
    body["message"] = {"text": out.text}
    if out.reply_to is not None:
        body["reply_to"] = {"mid": out.reply_to}
    url = node_url(base, out.external_id, "messages")
    try:
        content = await graph_post(http, url, token, body, out.platform)
    except SendError as err:
        if err.code == "window_closed" and out.tag == "HUMAN_AGENT":
            raise SendError(
                "window_closed",
                "The 7-day window for a person's reply has closed; the customer must write "
                "again first.",
                platform_code=err.platform_code,
                detail=err.detail,
            ) from None
        raise
    try:
        return msgspec.json.decode(content, type=MessengerSendResponse).message_id
    except msgspec.DecodeError:
        raise unreadable_success(out.platform) from None


def unreadable_success(platform: Platform) -> SendError:
    """A 2xx answer without a message id."""
    # Not transient: the message probably went out, and a retry could send it twice.
    return SendError(
        "platform_error",
        f"{PLATFORM_NAMES[platform]} accepted the message but its answer was unreadable.",
        detail="2xx response without a message id",
    )
