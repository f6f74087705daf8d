"""Connect with Facebook: the Meta login (Facebook Login for Business) run by the relay.

1. ``POST /v1/onboarding/meta`` gives the app a login link. Its ``state`` is random, works
   once, expires (``meta_login_ttl_s``), is bound to the business and the device, and is
   stored only as a hash. The app opens the link in the system browser.
2. Meta sends the browser back to ``GET /onboarding/meta/callback``. The relay exchanges
   the code for a token, makes a user token long-lived, and lists what the owner granted:
   Pages where they may send messages, the Instagram professional accounts linked to them,
   WhatsApp Business accounts and their numbers. The list, tokens included, is kept
   encrypted for ``meta_assets_ttl_s``; the browser gets a short page in plain words.
3. The app reads ``GET /v1/onboarding/meta/{login_id}`` (never a token) and shows a picker.
4. ``POST /v1/onboarding/meta/{login_id}/connect`` turns the picks into channels and
   subscribes the app to their webhooks, all or nothing. Picking a channel the business
   already has reconnects it with the fresh token.
"""

from __future__ import annotations

import html
import logging
import secrets
import uuid
from typing import Any, Final
from urllib.parse import urlencode

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from common.onboarding import (
    ConnectMetaAssets,
    MetaAsset,
    MetaLoginStarted,
    MetaLoginState,
    StartMetaLogin,
)
from common.protocol import ChannelInfo
from relay import health
from relay.auth import Principal, provide_principal
from relay.channels import (
    add_channel,
    announce_connected,
    channel_info,
    drop_channel,
    reclaim_unverified,
)
from relay.crypto import CredentialError, hash_token
from relay.directory import encode_credentials
from relay.errors import RelayError
from relay.health import Check
from relay.meta_grants import GrantedAsset, Listing, LoginFailed, collect, describe, log_graph
from relay.send import graph_admin as graph
from relay.send.errors import SendError
from relay.services import Services, now_ms
from relay.store import ChannelRow
from relay.store.base import MetaLoginRow

__all__ = [
    "CALLBACK_PATH",
    "listing_aad",
    "meta_callback_router",
    "onboarding_router",
]

log = logging.getLogger("clientora.relay.onboarding")

CALLBACK_PATH: Final = "/onboarding/meta/callback"


def _shown(asset: GrantedAsset, connected: bool) -> MetaAsset:
    return MetaAsset(
        id=asset.id,
        platform=asset.platform,
        external_id=asset.external_id,
        name=asset.name,
        detail=asset.detail,
        picture_url=asset.picture_url,
        connected=connected,
    )


_LISTING: Final = msgspec.json.Decoder(Listing)


def listing_aad(login_id: str) -> bytes:
    """What a login's encrypted listing is bound to (its id), for decrypting and re-keying."""
    return f"meta-login:{login_id}".encode()


def _configured(services: Services) -> bool:
    s = services.settings
    return bool(s.meta_app_id and s.meta_app_secret and s.meta_login_config_id)


def redirect_uri(services: Services) -> str:
    return services.settings.public_url.rstrip("/") + CALLBACK_PATH


# ---- 1. the login link ----------------------------------------------------------------


@post("/", status_code=201)
async def start_login(
    data: JSONBody[StartMetaLogin],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> MetaLoginStarted:
    """A single-use link to Meta's login dialog, for this business and device."""
    if not _configured(services):
        raise RelayError(
            503,
            "meta_login_unavailable",
            "This relay is not set up for Connect with Facebook yet (its operator has to add"
            " the Meta app id, app secret and login configuration). A Page token can still be"
            " pasted by hand.",
        )
    if await services.store.device(principal.business_id, data.device_id) is None:
        raise RelayError(403, "unknown_device", "This device is not registered to the business.")
    state = secrets.token_urlsafe(32)
    now = now_ms()
    row = MetaLoginRow(
        id=uuid.uuid4().hex,
        business_id=principal.business_id,
        device_id=data.device_id,
        state_hash=hash_token(state),
        status="pending",
        message=None,
        key_id="",
        listing=None,
        created_at_ms=now,
        expires_at_ms=now + services.settings.meta_login_ttl_s * 1000,
    )
    await services.store.create_meta_login(row)
    settings = services.settings
    query = urlencode(
        {
            "client_id": settings.meta_app_id,
            "redirect_uri": redirect_uri(services),
            "state": state,
            "config_id": settings.meta_login_config_id,
            "response_type": "code",
        }
    )
    log.info("meta login started", extra={"login_id": row.id})
    return MetaLoginStarted(
        login_id=row.id,
        login_url=f"{settings.graph_dialog_url}?{query}",
        expires_at_ms=row.expires_at_ms,
    )


# ---- 2. the browser comes back ----------------------------------------------------------

_PAGE_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)


def _page(status: int, title: str, text: str, after: str = "") -> Response[str]:
    """A small page in plain words; nothing from the request is shown unescaped."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Clientora: {html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;"
        "padding:0 1.2rem;color:#1d2330;line-height:1.5}h1{font-size:1.35rem}"
        "p.after{color:#596273}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        + (f'<p class="after">{html.escape(after)}</p>' if after else "")
        + "</body></html>"
    )
    return Response(
        body,
        status_code=status,
        media_type=MediaType.HTML,
        headers={
            "Content-Security-Policy": _PAGE_CSP,
            "Cache-Control": "no-store",
            # The address holds the code and state: it must not travel on as a referrer.
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


_RETURN: Final = "You can close this page and return to Clientora."


@get(CALLBACK_PATH, include_in_schema=False)
async def meta_callback(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[str]:
    """Meta's redirect after the login dialog: ``code`` and ``state``, or ``error``."""
    params = request.query_params
    state = params.get("state") or ""
    if not state:
        return _page(
            400,
            "This sign-in link is incomplete",
            "The address Facebook sent you back to has no sign-in state. Start again from"
            " Clientora with Connect with Facebook.",
        )
    state_hash = hash_token(state)
    login = await services.store.claim_meta_login(state_hash, now_ms())
    if login is None:
        return await _refused(services, state_hash)
    error = params.get("error")
    if error or params.get("error_reason"):
        if error == "access_denied" or params.get("error_reason") == "user_denied":
            message = (
                "You cancelled the Facebook sign-in or did not allow Clientora access, so"
                " nothing was connected. To connect, press Connect with Facebook again and"
                " allow access."
            )
        else:
            described = params.get("error_description") or error or "no reason given"
            message = (
                f"Facebook could not complete the sign-in ({described}). Nothing was connected."
            )
        await _fail(services, login, message)
        return _page(200, "Nothing was connected", message, _RETURN)
    code = params.get("code") or ""
    if not code:
        message = "Facebook sent no sign-in code, so nothing was connected. Start again."
        await _fail(services, login, message)
        return _page(400, "Nothing was connected", message, _RETURN)
    try:
        listing = await collect(services, code, redirect_uri(services))
    except LoginFailed as exc:
        await _fail(services, login, exc.message)
        return _page(200, "Nothing was connected", exc.message, _RETURN)
    key_id, blob = services.keyring.encrypt(msgspec.json.encode(listing), listing_aad(login.id))
    await services.store.update_meta_login(
        login.id,
        "ready",
        None,
        key_id,
        blob,
        now_ms() + services.settings.meta_assets_ttl_s * 1000,
    )
    log.info("meta login ready", extra={"login_id": login.id, "assets": len(listing.assets)})
    return _page(
        200,
        "You can return to Clientora",
        f"Facebook shared {describe(listing.assets)}. Choose in Clientora which to connect.",
        _RETURN,
    )


async def _refused(services: Services, state_hash: str) -> Response[str]:
    """Why a state cannot be used (unknown, used, expired); nothing is changed."""
    known = await services.store.meta_login_by_state(state_hash)
    if known is None:
        return _page(
            400,
            "This sign-in is not known",
            "Clientora does not recognise this sign-in. Start again from Clientora with"
            " Connect with Facebook.",
        )
    if known.state_used:
        return _page(
            400,
            "This sign-in was already used",
            "Each Connect with Facebook link works once, and this one has been used."
            " Return to Clientora: if nothing was connected, start again there.",
        )
    return _page(
        400,
        "This sign-in link has expired",
        f"Connect with Facebook links work for {services.settings.meta_login_ttl_s // 60 or 1}"
        " minutes. Start again from Clientora.",
    )


async def _fail(services: Services, login: MetaLoginRow, message: str) -> None:
    await services.store.update_meta_login(
        login.id, "failed", message, "", None, login.expires_at_ms
    )
    log.info("meta login failed", extra={"login_id": login.id})


# ---- 3. what the app shows --------------------------------------------------------------


async def _login(services: Services, principal: Principal, login_id: str) -> MetaLoginRow:
    row = await services.store.meta_login(principal.business_id, login_id)
    if row is None:
        raise RelayError(
            404,
            "unknown_login",
            "This Facebook sign-in is not known or has expired; start again.",
        )
    return row


def _listing(services: Services, row: MetaLoginRow) -> Listing:
    if row.listing is None:
        return Listing(assets=[])
    try:
        return _LISTING.decode(
            services.keyring.decrypt(row.key_id, row.listing, listing_aad(row.id))
        )
    except (CredentialError, msgspec.DecodeError):
        raise RelayError(
            410, "login_expired", "This Facebook sign-in can no longer be read; start again."
        ) from None


@get("/{login_id:str}")
async def login_state(
    login_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> MetaLoginState:
    """Where the sign-in stands, and what may be connected (names and ids, no tokens)."""
    row = await _login(services, principal, login_id)
    expired = row.expires_at_ms <= now_ms() and row.status in ("pending", "ready")
    if expired:
        return MetaLoginState(
            login_id=row.id,
            status="failed",
            expires_at_ms=row.expires_at_ms,
            message="The Facebook sign-in took too long and has expired; start again.",
        )
    status = row.status
    if status != "ready":
        return MetaLoginState(
            login_id=row.id, status=status, expires_at_ms=row.expires_at_ms, message=row.message
        )
    listing = _listing(services, row)
    mine = {(c.platform, c.external_id) for c in await services.store.channels(row.business_id)}
    return MetaLoginState(
        login_id=row.id,
        status=status,
        expires_at_ms=row.expires_at_ms,
        assets=[_shown(a, (a.platform, a.external_id) in mine) for a in listing.assets],
        warnings=listing.warnings,
    )


# ---- 4. the picks become channels -------------------------------------------------------


async def _existing(services: Services, business_id: str, asset: GrantedAsset) -> ChannelRow | None:
    """The business's channel for this asset (a reconnect), None for a new one; 409 when
    another business has it (unless that business only pasted it unverified: the sign-in
    proves this one may act on it, so it is taken back)."""
    channel_id = services.directory.resolve(asset.platform, asset.external_id)
    if channel_id is None:
        return None
    row = await services.store.channel(business_id, channel_id)
    if row is None and await reclaim_unverified(services, business_id, channel_id):
        return None
    if row is None:
        raise RelayError(
            409,
            "channel_taken",
            f"{asset.name} is connected to another Clientora account; nothing was connected.",
        )
    return row


@post("/{login_id:str}/connect", status_code=201)
async def connect_assets(
    login_id: FromPath[str],
    data: JSONBody[ConnectMetaAssets],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> list[ChannelInfo]:
    """Make channels of the picks and subscribe their webhooks: all of them, or none."""
    row = await _login(services, principal, login_id)
    if row.status == "connected":
        raise RelayError(
            409,
            "login_used",
            "This sign-in was used to connect already; start a new one to connect more.",
        )
    if row.status != "ready" or row.expires_at_ms <= now_ms():
        raise RelayError(
            409,
            "login_not_ready",
            row.message
            or (
                "The Facebook sign-in has not finished in the browser yet."
                if row.status == "pending" and row.expires_at_ms > now_ms()
                else "The Facebook sign-in has expired; start again."
            ),
        )
    listing = _listing(services, row)
    picks = list(dict.fromkeys(data.picks))
    if not picks:
        raise RelayError(422, "bad_request", "Pick at least one Page, account or number.")
    offered = {asset.id: asset for asset in listing.assets}
    foreign = [pick for pick in picks if pick not in offered]
    if foreign:
        raise RelayError(
            403,
            "not_managed",
            f"You do not manage {', '.join(foreign)}, or it was not shared in this sign-in;"
            " nothing was connected.",
        )
    chosen = [offered[pick] for pick in picks]
    existing = {a.id: await _existing(services, row.business_id, a) for a in chosen}
    created: list[tuple[GrantedAsset, ChannelRow]] = []
    subscribed: list[GrantedAsset] = []
    try:
        for asset in chosen:
            if existing[asset.id] is None:
                channel = await add_channel(
                    services,
                    row.business_id,
                    asset.platform,
                    asset.external_id,
                    asset.name,
                    asset.secrets(),
                )
                created.append((asset, channel))
        for asset in {a.node_id: a for a in chosen}.values():
            await graph.subscribe(
                services.http,
                services.urls.graph,
                "waba" if asset.platform == "whatsapp" else "page",
                asset.node_id,
                asset.access_token,
            )
            subscribed.append(asset)
    except (RelayError, SendError) as exc:
        await _undo(services, [c for _, c in created], subscribed)
        if isinstance(exc, RelayError):
            raise
        failed = next((a for a in chosen if a not in subscribed), chosen[0])
        log_graph("subscription", exc)
        raise RelayError(
            424 if exc.code == "token_invalid" else 502,
            "subscription_failed",
            f"Facebook did not let Clientora receive the messages of {failed.name}"
            f" ({exc.message}). Nothing was connected.",
        ) from None

    now = now_ms()
    token_ok = Check(state="ok", message="Facebook accepts the token.", checked_at_ms=now)
    subscribed_ok = Check(state="ok", message="Subscribed when connected.", checked_at_ms=now)
    results: list[ChannelInfo] = []
    for asset in chosen:
        known = existing[asset.id]
        if known is None:
            channel = next(c for a, c in created if a.id == asset.id)
            await announce_connected(services, channel)
        else:
            channel = known
            key_id, blob = encode_credentials(services.keyring, channel.id, asset.secrets())
            await services.store.replace_secret(row.business_id, channel.id, key_id, blob)
            log.info("channel reconnected", extra={"channel_id": channel.id})
        await health.note_connected(
            services,
            channel,
            token=token_ok,
            subscription=subscribed_ok,
            token_expires_at_ms=listing.token_expires_at_ms
            if asset.platform == "whatsapp"
            else None,
            avatar_url=asset.picture_url,
        )
        fresh = await services.store.channel(row.business_id, channel.id)
        results.append(channel_info(services, fresh or channel, asset.picture_url))
    # The tokens are in the channels now; the listing goes.
    await services.store.update_meta_login(row.id, "connected", None, "", None, row.expires_at_ms)
    return results


async def _undo(
    services: Services, created: list[ChannelRow], subscribed: list[GrantedAsset]
) -> None:
    """Nothing half-connected: remove this call's channels and its subscriptions (unless
    another channel still needs them)."""
    for channel in created:
        await drop_channel(services, channel)
    for asset in subscribed:
        in_use = set(await services.store.channels_on_node(asset.node_id))
        if asset.platform != "whatsapp" and services.directory.resolve("messenger", asset.node_id):
            in_use.add("messenger")
        if in_use:
            continue
        try:
            await graph.unsubscribe(
                services.http,
                services.urls.graph,
                "waba" if asset.platform == "whatsapp" else "page",
                asset.node_id,
                asset.access_token,
            )
        except SendError as exc:
            log_graph("undoing a subscription", exc)


def onboarding_router() -> Router:
    return Router(
        "/v1/onboarding/meta",
        route_handlers=[start_login, login_state, connect_assets],
        dependencies={"principal": Provide(provide_principal)},
    )


def meta_callback_router() -> Router:
    """The public callback (Meta's redirect URI): no session, the state is the key."""
    return Router("/", route_handlers=[meta_callback])
