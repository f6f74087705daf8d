"""Connect, list and disconnect a business's channels; credentials are stored encrypted."""

from __future__ import annotations

import logging
import re
import uuid
from typing import cast

from litestar import Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from common.channels import Platform
from common.protocol import ChannelInfo, ConnectChannel
from relay import health
from relay.auth import Principal, provide_principal
from relay.directory import decode_credentials, encode_credentials
from relay.errors import RelayError
from relay.health import Check
from relay.send import graph_admin, viber_account_info, viber_set_webhook
from relay.send.errors import SendError
from relay.services import Services, now_ms
from relay.store import ChannelRow, Conflict
from relay.subscriptions import unsubscribe_channel, viber_webhook_url

__all__ = [
    "UNVERIFIED",
    "add_channel",
    "announce_connected",
    "channel_info",
    "channels_router",
    "drop_channel",
    "reclaim_unverified",
    "viber_webhook_url",
]

log = logging.getLogger("clientora.relay.channels")

# platform -> (field holding the external id, credential fields), from platform-apis.md §8.
_REQUIRED: dict[str, tuple[str, tuple[str, ...]]] = {
    "messenger": ("page_id", ("access_token",)),
    "instagram": ("account_id", ("access_token",)),
    "whatsapp": ("phone_number_id", ("access_token", "business_account_id")),
    "viber": ("", ("auth_token",)),
    "webchat": ("", ()),
}


# Platform ids and tokens are printable ASCII without spaces; anything else was pasted
# wrongly (and would fail later, in an HTTP header or a URL).
_ID = re.compile(r"[!-~]{1,128}")
_SECRET = re.compile(r"[!-~]{1,4096}")
#: Kept beside a pasted channel's secrets when Graph could not be asked whether its token
#: may act on its id: Connect with Facebook, which proves it, may take the id over.
UNVERIFIED = "unverified_paste"


def channel_info(services: Services, row: ChannelRow, avatar_url: str | None = None) -> ChannelInfo:
    return ChannelInfo(
        id=row.id,
        platform=row.platform,
        external_id=row.external_id,
        name=row.name,
        status=row.status,
        created_at_ms=row.created_at_ms,
        webhook_url=viber_webhook_url(services, row.id) if row.platform == "viber" else None,
        avatar_url=avatar_url,
    )


async def add_channel(
    services: Services,
    business_id: str,
    platform: Platform,
    external_id: str,
    name: str | None,
    secrets: dict[str, str],
    channel_id: str | None = None,
) -> ChannelRow:
    """Store a channel with its credentials encrypted (bound to its id); 409 if the
    platform account is connected already. It routes webhooks from now on."""
    channel_id = channel_id or uuid.uuid4().hex
    if platform == "webchat" or (platform == "viber" and not external_id):
        # Addressed by our channel id (a page path, a webhook path); a Viber bot is known
        # by its own id when it was read, so no two businesses can connect it.
        external_id = channel_id
    key_id, blob = encode_credentials(services.keyring, channel_id, secrets)
    # Account-level WhatsApp webhooks name the Business Account, not the number.
    account_id = secrets.get("business_account_id") if platform == "whatsapp" else None
    try:
        row = await services.store.create_channel(
            business_id, channel_id, platform, external_id, name, key_id, blob, account_id or None
        )
    except Conflict as exc:
        raise RelayError(409, "channel_taken", str(exc)) from None
    services.directory.add(row)
    return row


async def drop_channel(services: Services, row: ChannelRow) -> None:
    """Undo ``add_channel`` of a channel no device has heard of yet (no farewell event)."""
    services.directory.remove(row.id)
    await services.store.delete_channel(row.business_id, row.id, None)
    await health.forget_channel(services, row.id)


async def reclaim_unverified(services: Services, business_id: str, channel_id: str) -> bool:
    """Take ``channel_id`` from the business that holds it when that business pasted it
    and Graph never confirmed its token (``UNVERIFIED``); True when it was taken. That
    business is told the channel was disconnected."""
    route = services.directory.route(channel_id)
    if route is None or route.business_id == business_id:
        return False
    row = await services.store.channel(route.business_id, channel_id)
    if row is None or UNVERIFIED not in decode_credentials(services.keyring, row):
        return False
    farewell = health.channel_changed(row, "disconnected")
    # Its webhooks are not unsubscribed: its token never proved it could, and the owner
    # connecting now subscribes them again with a token that can.
    services.directory.remove(row.id)
    await services.store.delete_channel(row.business_id, row.id, farewell)
    await health.forget_channel(services, row.id)
    log.warning(
        "unverified pasted channel reclaimed",
        extra={"channel_id": row.id, "platform": row.platform, "from_business": row.business_id},
    )
    return True


async def announce_connected(services: Services, row: ChannelRow) -> None:
    await services.store.append([health.channel_changed(row, "connected")])
    log.info("channel connected", extra={"channel_id": row.id, "platform": row.platform})


def _fields(data: ConnectChannel) -> tuple[str, dict[str, str]]:
    """The channel's external id and its secrets, or a 422 naming what is missing."""
    spec = _REQUIRED.get(data.platform)
    if spec is None:
        raise RelayError(
            422, "bad_request", f"{data.platform} channels are not connected this way."
        )
    id_field, secret_fields = spec
    missing = [
        name
        for name in ((id_field,) if id_field else ()) + secret_fields
        if not (getattr(data, name) or "").strip()
    ]
    if missing:
        raise RelayError(
            422, "bad_request", f"A {data.platform} channel needs: {', '.join(missing)}."
        )
    secrets = {name: getattr(data, name).strip() for name in secret_fields}
    external_id = getattr(data, id_field).strip() if id_field else ""
    wrong = [name for name, value in secrets.items() if not _SECRET.fullmatch(value)]
    if external_id and not _ID.fullmatch(external_id):
        wrong.insert(0, id_field)
    if wrong:
        raise RelayError(
            422,
            "bad_request",
            f"{', '.join(wrong)}: copy it again; it has spaces, accents or other characters"
            " that platform ids and tokens never have.",
        )
    return external_id, secrets


@post("/", status_code=201)
async def connect(
    data: JSONBody[ConnectChannel],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelInfo:
    external_id, secrets = _fields(data)
    name, avatar = data.name, None
    token = Check()
    if data.platform == "viber":
        # Checked before anything is stored: a wrong token leaves nothing behind.
        name, avatar, external_id = await _viber_bot(services, secrets["auth_token"], data.name)
        token = Check(state="ok", message="Viber accepts the bot token.", checked_at_ms=now_ms())
    elif data.platform in ("messenger", "instagram", "whatsapp"):
        token = await _meta_token(services, data.platform, secrets["access_token"])
        if not await _token_reaches(services, data.platform, external_id, secrets):
            secrets[UNVERIFIED] = "1"
    row = await add_channel(
        services, principal.business_id, data.platform, external_id, name, secrets
    )
    webhook = Check()
    if data.platform == "viber":
        try:
            await viber_set_webhook(
                services.http,
                services.urls,
                secrets["auth_token"],
                viber_webhook_url(services, row.id),
            )
        except SendError as exc:
            # Nothing half-connected: the channel goes again if Viber refuses the webhook.
            await drop_channel(services, row)
            raise RelayError(
                422, exc.code, f"Viber did not accept the bot: {exc.message}"
            ) from None
        webhook = Check(state="ok", message="Viber accepted the webhook.", checked_at_ms=now_ms())
    await announce_connected(services, row)
    if data.platform != "webchat":
        await health.note_connected(
            services,
            row,
            token=token,
            # Viber confirms a webhook only once it reached the relay: it is subscribed.
            subscription=webhook,
            webhook=webhook,
            avatar_url=avatar,
        )
    return channel_info(services, row, avatar)


async def _viber_bot(
    services: Services, auth_token: str, name: str | None
) -> tuple[str | None, str | None, str]:
    """The bot's name (unless the owner gave one), avatar and own id ("" if Viber gave
    none); 422 for a token Viber refuses."""
    try:
        info = await viber_account_info(services.http, services.urls, auth_token)
    except SendError as exc:
        if exc.code == "token_invalid":
            raise RelayError(
                422,
                "token_invalid",
                "Viber does not accept this bot token. Copy it again from the bot's settings"
                " (Viber Partners > your bot > Token) and paste it without spaces.",
            ) from None
        raise RelayError(
            502 if exc.transient else 422, exc.code, f"Viber could not check the bot: {exc.message}"
        ) from None
    bot_name = info.get("name")
    icon = info.get("icon")
    bot_id = info.get("id")
    return (
        name or (bot_name if isinstance(bot_name, str) and bot_name else None),
        icon if isinstance(icon, str) and icon else None,
        bot_id if isinstance(bot_id, str) else "",
    )


async def _meta_token(services: Services, platform: str, token: str) -> Check:
    """A pasted Meta token, checked when the relay has a Meta app: one Graph refuses is
    refused here (422) before anything is stored."""
    settings = services.settings
    if not (settings.meta_app_id and settings.meta_app_secret):
        return Check()
    try:
        info = await graph_admin.debug_token(
            services.http,
            services.urls.graph,
            app_id=settings.meta_app_id,
            app_secret=settings.meta_app_secret,
            token=token,
        )
    except SendError as exc:
        log.warning("pasted token not checked", extra={"detail": exc.detail})
        return Check(message=f"The token could not be checked: {exc.message}")
    if not info.is_valid:
        raise RelayError(
            422,
            "token_invalid",
            "Facebook does not accept this access token; copy a fresh one, or use"
            " Connect with Facebook instead.",
        )
    return Check(state="ok", message="Facebook accepts the token.", checked_at_ms=now_ms())


# What a token must be able to read to act on a pasted id: a Page's conversations need
# that Page's own token; an Instagram account or a WhatsApp number (and its account) can
# be read only by tokens that may manage them. Any Page can be read by anyone, so the
# Page itself proves nothing.
_PROOFS: dict[str, tuple[tuple[str, str], ...]] = {
    "messenger": (("page_id", "conversations"),),
    "instagram": (("account_id", ""),),
    "whatsapp": (("phone_number_id", ""), ("business_account_id", "")),
}
_ID_FIELDS = {"page_id": "", "account_id": "", "phone_number_id": "", "business_account_id": ""}
_GRAPH_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOUN = {"messenger": "Page", "instagram": "Instagram account", "whatsapp": "number"}


async def _token_reaches(
    services: Services, platform: str, external_id: str, secrets: dict[str, str]
) -> bool:
    """True when Graph confirms the pasted token may act on the pasted ids; False when
    Graph could not be asked (the channel is kept as an unverified paste); a 422 when
    Graph says the token cannot, so one shop cannot claim another's Page or number."""
    ids = {**_ID_FIELDS, **secrets, _REQUIRED[platform][0]: external_id}
    for field, edge in _PROOFS[platform]:
        node_id = ids[field]
        if not _GRAPH_ID.fullmatch(node_id):
            # Graph cannot be asked about it (real ids are digits), so it can match no
            # real account either: kept, unverified, as when Graph is down.
            return False
        try:
            await graph_admin.can_read(
                services.http,
                services.urls.graph,
                node_id,
                secrets["access_token"],
                cast(Platform, platform),
                edge,
            )
        except SendError as exc:
            # Throttled, a 5xx, or no answer at all (a read that timed out proves nothing
            # either way, though a send that did may have left): Graph was not asked.
            unanswered = exc.code == "platform_error" and exc.platform_code is None
            if exc.transient or unanswered:
                log.warning(
                    "pasted channel not verified",
                    extra={"platform": platform, "code": exc.code, "detail": exc.detail},
                )
                return False
            if exc.code == "token_invalid":
                raise RelayError(
                    422,
                    "token_invalid",
                    "Facebook does not accept this access token; copy a fresh one, or use"
                    " Connect with Facebook instead.",
                ) from None
            raise RelayError(
                422,
                "not_managed",
                f"This access token cannot act on {node_id}. Paste a token made for this"
                f" {_NOUN[platform]}, or use Connect with Facebook.",
            ) from None
    return True


@get("/")
async def list_channels(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> list[ChannelInfo]:
    avatars = {
        h.channel_id: h.avatar_url
        for h in await services.store.channels_health(principal.business_id)
    }
    return [
        channel_info(services, row, avatars.get(row.id))
        for row in await services.store.channels(principal.business_id)
    ]


@get("/{channel_id:str}")
async def show_channel(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelInfo:
    row = await services.owned_channel(principal.business_id, channel_id)
    known = await services.store.channel_health(principal.business_id, row.id)
    return channel_info(services, row, known.avatar_url if known else None)


@delete("/{channel_id:str}", status_code=204)
async def disconnect(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> None:
    row = await services.owned_channel(principal.business_id, channel_id)
    farewell = health.channel_changed(row, "disconnected")
    # Webhooks stop before the credentials that can stop them are erased.
    await unsubscribe_channel(services, row)
    services.directory.remove(row.id)
    await services.store.delete_channel(principal.business_id, row.id, farewell)
    await health.forget_channel(services, row.id)
    log.info("channel disconnected", extra={"channel_id": row.id, "platform": row.platform})


def channels_router() -> Router:
    return Router(
        "/v1/channels",
        route_handlers=[connect, list_channels, show_channel, disconnect],
        dependencies={"principal": Provide(provide_principal)},
    )
