"""The web-chat channel: a shop's own site talks to the relay directly.

The relay serves the chat page and the launcher snippet a shop embeds; visitors post
messages (they enter the same event log as any platform's), read their history, and
get replies live over Server-Sent Events. A visitor is identified by an id their
browser keeps; every read names it, so nobody sees another visitor's conversation.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import json
import re
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from common.events import EVENT_DECODER, Customer, MessageReceived, MessageSent
from common.protocol import VisitorMessage
from relay.away import consider_away
from relay.directory import Route
from relay.errors import RelayError
from relay.ingest import append_events, record
from relay.services import Services, now_ms
from relay.store import StoredEvent

__all__ = [
    "HEARTBEAT_S",
    "LIFETIME_BEATS",
    "PAGE_CSP",
    "STREAMS_PER_VISITOR",
    "ChatLine",
    "StreamLease",
    "StreamSlots",
    "chat_line",
    "sse_frame",
    "webchat_router",
]

_VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: The largest sequence number the stores hold (signed 64-bit).
MAX_SEQ = 2**63 - 1
#: ``?after=``: a sequence number; anything else is a 400 before the store is asked.
After = Annotated[int, QueryParameter(ge=0, le=MAX_SEQ, description="Lines after this seq.")]
MAX_TEXT = 2000
#: Longest quiet spell on an event stream: proxies drop idle connections after 30-60 s.
HEARTBEAT_S = 15.0
#: Lines read from the log per query while a stream catches up.
STREAM_PAGE = 50
#: Open event streams allowed per visitor (tabs) and per client address (a shared office).
STREAMS_PER_VISITOR = 4
STREAMS_PER_ADDRESS = 64
#: How long EventSource waits before it reconnects after a drop, in milliseconds.
RETRY_MS = 3000
#: A stream ends after this many heartbeat intervals (5 minutes by default) and the page
#: reconnects from where it was: no connection outlives a deploy or pins one process.
LIFETIME_BEATS = 20

#: The page loads only what the relay serves; any site may frame it (that is the embed).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_ASSET_TYPES = {"chat.css": "text/css", "chat.js": "text/javascript"}
_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Chat not available</title><p>This chat is not available.</p>"
    '<p lang="sq">Kjo bisedë nuk është e disponueshme.</p>'
    '<p lang="sr">Ово ћаскање није доступно.</p></html>'
).encode()


class ChatLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line of a visitor's conversation: ``in`` from the visitor, ``out`` from the shop."""

    seq: int
    direction: str
    text: str
    timestamp_ms: int
    #: The page's own id for an ``in`` line, so the page can confirm what it sent.
    message_id: str | None = None


def chat_line(row: StoredEvent) -> ChatLine | None:
    """The line a stored event shows on the page, or None for events the page skips."""
    event = EVENT_DECODER.decode(row.payload)
    if isinstance(event, MessageReceived) and event.text:
        # platform_id is "<visitor>:<message id>" (see visitor_says).
        _, _, message_id = (event.platform_id or "").partition(":")
        return ChatLine(
            seq=row.seq,
            direction="in",
            text=event.text,
            timestamp_ms=event.timestamp_ms,
            message_id=message_id or None,
        )
    if isinstance(event, MessageSent):
        return ChatLine(
            seq=row.seq, direction="out", text=event.text, timestamp_ms=event.timestamp_ms
        )
    return None


def sse_frame(line: ChatLine) -> bytes:
    """One Server-Sent Event; ``id`` is the seq, so EventSource's Last-Event-ID resumes.

    JSON escapes line breaks, so the data never spans lines.
    """
    return b"id: %d\ndata: %s\n\n" % (line.seq, msgspec.json.encode(line))


# ---- who may hold a stream open ---------------------------------------------------------


@dataclass(slots=True)
class StreamLease:
    """One open stream's hold on its slots; releasing twice is harmless."""

    slots: StreamSlots
    keys: tuple[str, ...]
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots.give_back(self.keys)


@dataclass(slots=True)
class StreamSlots:
    """Counts open event streams per key (visitor, address) and refuses one over its cap."""

    per_visitor: int = STREAMS_PER_VISITOR
    per_address: int = STREAMS_PER_ADDRESS
    _open: dict[str, int] = field(default_factory=dict)

    def take(self, visitor_key: str, address_key: str) -> StreamLease | None:
        if self._open.get(visitor_key, 0) >= self.per_visitor:
            return None
        if self._open.get(address_key, 0) >= self.per_address:
            return None
        for key in (visitor_key, address_key):
            self._open[key] = self._open.get(key, 0) + 1
        return StreamLease(self, (visitor_key, address_key))

    def give_back(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            left = self._open.get(key, 0) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)

    def count(self, key: str) -> int:
        return self._open.get(key, 0)


_SLOTS = "webchat_stream_slots"


def _slots(request: Request[Any, Any, Any]) -> StreamSlots:
    """The app's stream counter (per process, like the visitor rate limiter)."""
    state = request.app.state
    slots = state.get(_SLOTS)
    if not isinstance(slots, StreamSlots):
        slots = state[_SLOTS] = StreamSlots()
    return slots


# ---- the page and its files ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Files:
    page: str
    embed: str
    assets: dict[str, bytes]
    versions: dict[str, str]


@functools.cache
def _files() -> _Files:
    folder = resources.files("resources").joinpath("webchat")
    assets = {name: folder.joinpath(name).read_bytes() for name in _ASSET_TYPES}
    return _Files(
        page=folder.joinpath("page.html").read_text(encoding="utf-8"),
        embed=folder.joinpath("embed.js").read_text(encoding="utf-8"),
        assets=assets,
        versions={name: hashlib.sha256(body).hexdigest()[:12] for name, body in assets.items()},
    )


async def _channel(services: Services, channel_id: str) -> Route:
    route = await services.directory.route_fresh(channel_id)
    if route is None or route.platform != "webchat":
        raise RelayError(404, "unknown_channel", "This chat is not available.")
    return route


def _visitor(visitor_id: str) -> str:
    if not _VISITOR.match(visitor_id):
        raise RelayError(422, "bad_request", "visitor_id must be 8 to 64 letters, digits, - or _.")
    return visitor_id


def _prefix(request: Request[Any, Any, Any]) -> str:
    """Where the relay is mounted (ASGI root_path), so links work behind a path proxy."""
    return str(request.scope.get("root_path") or "").rstrip("/")


@get("/{channel_id:str}", include_in_schema=False)
async def chat_page(
    channel_id: FromPath[str], request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[bytes]:
    """The visitor's chat page (the launcher frames it; it also works on its own)."""
    headers = {**_COMMON_HEADERS, "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
    route = await services.directory.route_fresh(channel_id)
    if route is None or route.platform != "webchat":
        return Response(_NOT_FOUND_PAGE, status_code=404, media_type="text/html", headers=headers)
    files = _files()
    prefix = _prefix(request)
    fills = {
        "__TITLE__": route.name or "Chat",
        "__SHOP__": route.name or "",
        "__CHANNEL__": channel_id,
        "__BASE__": f"{prefix}/webchat/{channel_id}",
        "__CSS_URL__": f"{prefix}/webchat/assets/chat.css?v={files.versions['chat.css']}",
        "__JS_URL__": f"{prefix}/webchat/assets/chat.js?v={files.versions['chat.js']}",
    }
    page = files.page
    for marker, value in fills.items():
        page = page.replace(marker, html.escape(value, quote=True))
    return Response(page.encode(), media_type="text/html", headers=headers)


@get("/assets/{name:str}", include_in_schema=False)
async def chat_asset(name: FromPath[str]) -> Response[bytes]:
    """The page's script and style sheet; their URLs carry a content hash, so they cache."""
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        raise RelayError(404, "not_found", "No such file.")
    return Response(
        _files().assets[name],
        media_type=media_type,
        headers={**_COMMON_HEADERS, "Cache-Control": "public, max-age=86400"},
    )


@get("/{channel_id:str}/embed.js", include_in_schema=False)
async def embed_script(
    channel_id: FromPath[str], services: NamedDependency[Services]
) -> Response[bytes]:
    """The launcher a shop pastes into its site; it carries the chat's address and nothing else."""
    await _channel(services, channel_id)
    page_url = f"{services.settings.public_url.rstrip('/')}/webchat/{channel_id}"
    script = _files().embed.replace("__PAGE_URL__", json.dumps(page_url).replace("<", "\\u003c"))
    return Response(
        script.encode(),
        media_type="text/javascript",
        headers={
            **_COMMON_HEADERS,
            "Cache-Control": "public, max-age=3600",
            # Sites that isolate themselves (COEP) may still load it.
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


# ---- messages ---------------------------------------------------------------------------


@post("/{channel_id:str}/messages", status_code=202)
async def visitor_says(
    channel_id: FromPath[str],
    data: JSONBody[VisitorMessage],
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
) -> dict[str, str]:
    route = await _channel(services, channel_id)
    _visitor(data.visitor_id)
    text = data.text.strip()
    if not text or len(text) > MAX_TEXT:
        raise RelayError(422, "bad_request", f"A message must have 1 to {MAX_TEXT} characters.")
    address = request.client.host if request.client else "?"
    limiter = services.webchat_limiter
    # Per shop: one busy shop's visitors behind a shared address never silence another's.
    if not (
        limiter.allow(f"v:{channel_id}:{data.visitor_id}")
        and limiter.allow(f"a:{channel_id}:{address}")
    ):
        raise RelayError(429, "rate_limited", "Too many messages; wait a moment.", retry_after_s=10)
    message_id = (
        data.message_id
        if data.message_id and len(data.message_id) <= 64 and ":" not in data.message_id
        else None
    )
    event = MessageReceived(
        channel_id=channel_id,
        platform="webchat",
        customer=Customer(id=data.visitor_id, name=(data.name or "").strip()[:80] or None),
        timestamp_ms=now_ms(),
        platform_id=f"{data.visitor_id}:{message_id or uuid.uuid4().hex}",
        text=text,
    )
    (seq,) = await append_events(services.store, [record(route.business_id, event)])
    if seq is not None:
        consider_away(services, [(route.business_id, seq, event)])
    return {"status": "received"}


@get("/{channel_id:str}/messages")
async def visitor_history(
    channel_id: FromPath[str],
    visitor_id: FromQuery[str],
    services: NamedDependency[Services],
    after: After = 0,
) -> list[ChatLine]:
    """The visitor's conversation after ``after`` (a seq), for a reload or a poll."""
    await _channel(services, channel_id)
    _visitor(visitor_id)
    rows = await services.store.customer_events(channel_id, visitor_id, after, 200)
    return [line for line in map(chat_line, rows) if line is not None]


# ---- live replies -----------------------------------------------------------------------


def _resume_point(after: int, last_event_id: str | None) -> int:
    """Where a stream starts: EventSource sends the last id it saw when it reconnects."""
    cursor = max(0, after)
    seen = (last_event_id or "").strip()
    # ASCII digits only ("²".isdigit() is true too), and no more than the stores hold.
    if seen.isascii() and seen.isdigit() and len(seen) <= 19 and int(seen) <= MAX_SEQ:
        cursor = max(cursor, int(seen))
    return cursor


async def _visitor_stream(
    services: Services, route: Route, visitor_id: str, cursor: int, lease: StreamLease
) -> AsyncGenerator[bytes, None]:
    """The visitor's lines after ``cursor``, then each new one as it is stored.

    The log is the buffer: one page of lines is held at a time and the next is read
    only after the client has taken it, so a slow reader costs one page of memory.
    """
    wakeups = services.wakeups
    heartbeat = min(HEARTBEAT_S, services.settings.heartbeat_s)
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + heartbeat * LIFETIME_BEATS
    try:
        yield b"retry: %d\n\n" % RETRY_MS
        # Then (or when this process drains) EventSource comes back with Last-Event-ID.
        while loop.time() < ends_at and not wakeups.closed:
            # Register before reading, so a line stored between the read and the wait wakes us.
            waiter = wakeups.register(route.business_id)
            try:
                rows = await services.store.customer_events(
                    route.channel_id, visitor_id, cursor, STREAM_PAGE
                )
                if rows:
                    for row in rows:
                        cursor = row.seq
                        line = chat_line(row)
                        if line is not None:
                            yield sse_frame(line)
                    continue
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), heartbeat)
                except TimeoutError:
                    if services.directory.route(route.channel_id) is None:
                        return  # the channel was disconnected
                    yield b": keep-alive\n\n"
            finally:
                wakeups.discard(route.business_id, waiter)
    finally:
        lease.release()


@get("/{channel_id:str}/events", include_in_schema=False)
async def visitor_events(
    channel_id: FromPath[str],
    visitor_id: FromQuery[str],
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    after: After = 0,
) -> Stream:
    """Server-Sent Events: the visitor's new lines, live, with a heartbeat comment when idle."""
    route = await _channel(services, channel_id)
    _visitor(visitor_id)
    cursor = _resume_point(after, request.headers.get("last-event-id"))
    address = request.client.host if request.client else "?"
    lease = _slots(request).take(f"v:{channel_id}:{visitor_id}", f"a:{channel_id}:{address}")
    if lease is None:
        raise RelayError(
            429, "too_many_streams", "This chat is already open in too many tabs.", retry_after_s=10
        )
    lines = _visitor_stream(services, route, visitor_id, cursor, lease)
    return Stream(
        lines,
        media_type="text/event-stream",
        headers={
            **_COMMON_HEADERS,
            "Cache-Control": "no-cache, no-store",
            # nginx would otherwise hold events back in its buffer.
            "X-Accel-Buffering": "no",
        },
        # After the response (the client left, or the stream ended): close the generator
        # now rather than at garbage collection, and free the slot even if it never started.
        background=BackgroundTasks([BackgroundTask(lines.aclose), BackgroundTask(lease.release)]),
    )


def webchat_router() -> Router:
    return Router(
        "/webchat",
        route_handlers=[
            chat_asset,
            chat_page,
            embed_script,
            visitor_says,
            visitor_history,
            visitor_events,
        ],
    )
