"""The web-chat channel: a shop's own site talks to the relay directly.

Visitors post messages here (they enter the same event log as any platform's) and
read the replies back; a visitor is identified by an id their browser keeps.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from common.events import EVENT_DECODER, Customer, MessageReceived, MessageSent
from relay.errors import RelayError
from relay.ingest import append_events, record
from relay.services import Services, now_ms

__all__ = ["webchat_router"]

_VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TEXT = 2000


class VisitorMessage(msgspec.Struct, frozen=True, kw_only=True):
    visitor_id: str
    text: str
    name: str | None = None
    #: The page's own id for the message, so a resend after a network error is dropped.
    message_id: str | None = None


class ChatLine(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    direction: str
    text: str
    timestamp_ms: int


def _channel(services: Services, channel_id: str) -> Any:
    route = services.directory.route(channel_id)
    if route is None or route.platform != "webchat":
        raise RelayError(404, "unknown_channel", "This chat is not available.")
    return route


@post("/{channel_id:str}/messages", status_code=202)
async def visitor_says(
    channel_id: FromPath[str],
    data: JSONBody[VisitorMessage],
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
) -> dict[str, str]:
    route = _channel(services, channel_id)
    if not _VISITOR.match(data.visitor_id):
        raise RelayError(422, "bad_request", "visitor_id must be 8 to 64 letters, digits, - or _.")
    text = data.text.strip()
    if not text or len(text) > MAX_TEXT:
        raise RelayError(422, "bad_request", f"A message must have 1 to {MAX_TEXT} characters.")
    address = request.client.host if request.client else "?"
    limiter = services.webchat_limiter
    if not (limiter.allow(f"v:{channel_id}:{data.visitor_id}") and limiter.allow(f"a:{address}")):
        raise RelayError(429, "rate_limited", "Too many messages; wait a moment.", retry_after_s=10)
    message_id = data.message_id if data.message_id and len(data.message_id) <= 64 else None
    event = MessageReceived(
        channel_id=channel_id,
        platform="webchat",
        customer=Customer(id=data.visitor_id, name=(data.name or "").strip()[:80] or None),
        timestamp_ms=now_ms(),
        platform_id=f"{data.visitor_id}:{message_id or uuid.uuid4().hex}",
        text=text,
    )
    await append_events(services.store, [record(route.business_id, event)])
    return {"status": "received"}


@get("/{channel_id:str}/messages")
async def visitor_history(
    channel_id: FromPath[str],
    visitor_id: FromQuery[str],
    services: NamedDependency[Services],
    after: FromQuery[int] = 0,
) -> list[ChatLine]:
    """The visitor's conversation after ``after`` (a seq), for a reload or a poll."""
    _channel(services, channel_id)
    if not _VISITOR.match(visitor_id):
        raise RelayError(422, "bad_request", "visitor_id is not valid.")
    lines: list[ChatLine] = []
    for row in await services.store.customer_events(channel_id, visitor_id, after, 200):
        event = EVENT_DECODER.decode(row.payload)
        if isinstance(event, MessageReceived) and event.text:
            lines.append(
                ChatLine(
                    seq=row.seq, direction="in", text=event.text, timestamp_ms=event.timestamp_ms
                )
            )
        elif isinstance(event, MessageSent):
            lines.append(
                ChatLine(
                    seq=row.seq, direction="out", text=event.text, timestamp_ms=event.timestamp_ms
                )
            )
    return lines


def webchat_router() -> Router:
    return Router("/webchat", route_handlers=[visitor_says, visitor_history])
