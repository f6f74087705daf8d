"""Webhook endpoints: verify the signature over the raw body, parse, store, answer 200."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Final
from urllib.parse import parse_qsl

from litestar import Litestar, MediaType, Request, Router, asgi, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from common.events import ChannelAlert, MessageReceived, PlatformEvent, Unsupported
from relay.away import consider_away
from relay.directory import decode_credentials
from relay.errors import RelayError
from relay.ingest import append_events, record
from relay.metrics import WEBHOOK_ITEMS_IGNORED, WEBHOOK_ITEMS_UNSUPPORTED, WEBHOOKS
from relay.services import Services, now_ms
from relay.store import NewEvent
from relay.webhooks.meta import parse_meta
from relay.webhooks.parsing import ParseResult, PayloadError
from relay.webhooks.signatures import meta_signature_ok, same_secret, viber_signature_ok
from relay.webhooks.viber import parse_viber

__all__ = ["META_PATH", "serve_meta", "webhooks_router"]

log = logging.getLogger("clientora.relay.webhooks")

#: Where Meta posts (``webhooks_router`` mounts ``/meta`` under ``/webhooks``).
META_PATH: Final = "/webhooks/meta"

# Per-request outcomes, resolved once (a labels() lookup per webhook is measurable).
_OUTCOMES: Final = {
    (source, stored): WEBHOOKS.labels(source, "stored" if stored else "nothing_new")
    for source in ("meta", "viber")
    for stored in (True, False)
}


async def _store(services: Services, source: str, result: ParseResult) -> None:
    for ignored in result.ignored:
        WEBHOOK_ITEMS_IGNORED.labels(ignored.platform, ignored.reason).inc()
        log.info("webhook item ignored", extra={"source": source, "reason": str(ignored)})
    records: list[NewEvent] = []
    inbound: list[tuple[int, MessageReceived]] = []
    for event in result.events:
        if not isinstance(event, (PlatformEvent, ChannelAlert)):
            continue
        if isinstance(event, (Unsupported, ChannelAlert)):
            WEBHOOK_ITEMS_UNSUPPORTED.labels(event.platform, event.reason).inc()
        route = services.directory.route(event.channel_id)
        if route is not None:
            if isinstance(event, MessageReceived):
                inbound.append((len(records), event))
            records.append(record(route.business_id, event))
    seqs = await append_events(services.store, records)
    consider_away(
        services,
        [(records[i].business_id, seq, e) for i, e in inbound if (seq := seqs[i]) is not None],
    )
    # For channel health: in memory only, saved now and then by relay/health.py.
    services.activity.saw_events((r.channel_id for r in records if r.channel_id), now_ms())
    _OUTCOMES[source, bool(records)].inc()


async def handle_meta(scope: Scope, receive: Receive, send: Send) -> None:
    """Meta's verification handshake (GET) and its signed webhooks (POST).

    The busiest endpoint, written against ASGI directly: no dependency injection or
    response objects on the way from the body to the commit (measured: a third less
    CPU per webhook than a regular handler). The app hands it ``/webhooks/meta`` before
    Litestar's routing (``relay/app.py``); ``meta_webhook`` routes any other spelling.
    """
    services: Services = Litestar.from_scope(scope).state.services
    method = scope.get("method")
    if method == "GET":
        await _reply(send, *_handshake(services, scope))
        return
    if method != "POST":
        await _reply(send, 405, b"method not allowed")
        return
    body = await _read_body(receive, services.settings.max_body_bytes)
    if body is None:
        await _reply(send, 413, b"body too large")
        return
    signature = _header(scope, b"x-hub-signature-256")
    if not meta_signature_ok(body, signature, services.settings.meta_app_secret):
        WEBHOOKS.labels("meta", "bad_signature").inc()
        await _reply(send, 403, b"X-Hub-Signature-256 is missing or does not match.")
        return
    try:
        received_ms = now_ms()
        misses = services.directory.misses
        directory = services.directory
        result = parse_meta(body, directory.resolve, received_ms, directory.accounts)
        # A page connected through another relay process a moment ago: look again.
        if directory.misses != misses and await directory.fresh():
            result = parse_meta(body, directory.resolve, received_ms, directory.accounts)
    except PayloadError as exc:
        # 200 anyway: an error answer makes Meta retry, then disable the webhook.
        WEBHOOKS.labels("meta", "unreadable").inc()
        log.warning("webhook body not understood", extra={"source": "meta", "reason": str(exc)})
        await _reply(send, 200, b"EVENT_RECEIVED")
        return
    await _store(services, "meta", result)
    await _reply(send, 200, b"EVENT_RECEIVED")


meta_webhook = asgi("/meta", copy_scope=False)(handle_meta)


async def serve_meta(scope: Scope, receive: Receive, send: Send) -> None:
    """``handle_meta`` outside Litestar's middleware: an unexpected error is logged and
    answered 500 here (Meta retries it), as Litestar's handler would."""
    try:
        await handle_meta(scope, receive, send)
    except Exception:
        log.exception("unhandled error", extra={"path": scope["path"]})
        with contextlib.suppress(Exception):  # the answer may have started already
            await _reply(send, 500, b"The relay hit an unexpected error.")


def _handshake(services: Services, scope: Scope) -> tuple[int, bytes]:
    """Echo ``hub.challenge`` when the verify token matches."""
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    expected = services.settings.meta_verify_token
    if (
        params.get("hub.mode") != "subscribe"
        or not expected
        or not same_secret(params.get("hub.verify_token", ""), expected)
    ):
        return 403, b"The verify token does not match this relay's."
    return 200, params.get("hub.challenge", "").encode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, body: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


@post("/viber/{channel_id:str}", status_code=200, media_type=MediaType.TEXT)
async def viber_events(
    channel_id: FromPath[str], request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> str:
    row = await services.store.channel_by_id(channel_id)
    if row is None or row.platform != "viber":
        WEBHOOKS.labels("viber", "unknown_channel").inc()
        raise RelayError(404, "unknown_channel", "No Viber channel has this webhook address.")
    body = await request.body()
    token = decode_credentials(services.keyring, row).get("auth_token", "")
    if not viber_signature_ok(body, request.headers.get("x-viber-content-signature"), token):
        WEBHOOKS.labels("viber", "bad_signature").inc()
        raise RelayError(
            403, "bad_signature", "X-Viber-Content-Signature is missing or does not match."
        )
    try:
        result = parse_viber(body, channel_id, now_ms())
    except PayloadError as exc:
        WEBHOOKS.labels("viber", "unreadable").inc()
        log.warning("webhook body not understood", extra={"source": "viber", "reason": str(exc)})
        return "ok"
    await _store(services, "viber", result)
    return "ok"


def webhooks_router() -> Router:
    return Router("/webhooks", route_handlers=[meta_webhook, viber_events])
