"""Webhook endpoints: verify the signature over the raw body, parse, store, answer 200."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from common.events import PlatformEvent
from relay.directory import decode_credentials
from relay.errors import RelayError
from relay.ingest import append_events, record
from relay.metrics import WEBHOOKS
from relay.services import Services
from relay.webhooks.meta import parse_meta
from relay.webhooks.parsing import ParseResult, PayloadError
from relay.webhooks.signatures import meta_signature_ok, viber_signature_ok
from relay.webhooks.viber import parse_viber

__all__ = ["webhooks_router"]

log = logging.getLogger("clientora.relay.webhooks")


@get("/meta", media_type=MediaType.TEXT)
async def meta_handshake(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> str:
    """Meta's verification: echo ``hub.challenge`` when the verify token matches."""
    params = request.query_params
    expected = services.settings.meta_verify_token
    if (
        params.get("hub.mode") != "subscribe"
        or not expected
        or params.get("hub.verify_token") != expected
    ):
        raise RelayError(403, "bad_verify_token", "The verify token does not match this relay's.")
    return str(params.get("hub.challenge", ""))


async def _store(services: NamedDependency[Services], source: str, result: ParseResult) -> str:
    for reason in result.ignored:
        log.info("webhook item ignored", extra={"source": source, "reason": reason})
    records = []
    for event in result.events:
        if not isinstance(event, PlatformEvent):
            continue
        route = services.directory.route(event.channel_id)
        if route is not None:
            records.append(record(route.business_id, event))
    await append_events(services.store, records)
    WEBHOOKS.labels(source, "stored" if records else "nothing_new").inc()
    return "EVENT_RECEIVED"


@post("/meta", status_code=200, media_type=MediaType.TEXT)
async def meta_events(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> str:
    body = await request.body()
    if not meta_signature_ok(
        body, request.headers.get("x-hub-signature-256"), services.settings.meta_app_secret
    ):
        WEBHOOKS.labels("meta", "bad_signature").inc()
        raise RelayError(403, "bad_signature", "X-Hub-Signature-256 is missing or does not match.")
    try:
        result = parse_meta(body, services.directory.resolve)
    except PayloadError as exc:
        # 200 anyway: an error answer makes Meta retry, then disable the webhook.
        WEBHOOKS.labels("meta", "unreadable").inc()
        log.warning("webhook body not understood", extra={"source": "meta", "reason": str(exc)})
        return "EVENT_RECEIVED"
    return await _store(services, "meta", result)


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
        result = parse_viber(body, channel_id)
    except PayloadError as exc:
        WEBHOOKS.labels("viber", "unreadable").inc()
        log.warning("webhook body not understood", extra={"source": "viber", "reason": str(exc)})
        return "ok"
    await _store(services, "viber", result)
    return "ok"


def webhooks_router() -> Router:
    return Router("/webhooks", route_handlers=[meta_handshake, meta_events, viber_events])
