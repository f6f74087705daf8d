"""Connect, list and disconnect a business's channels; credentials are stored encrypted."""

from __future__ import annotations

import logging
import uuid

from litestar import Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from common.events import ChannelChanged
from common.protocol import ChannelInfo, ConnectChannel
from relay.auth import Principal, provide_principal
from relay.directory import encode_credentials
from relay.errors import RelayError
from relay.ingest import system_event
from relay.send import viber_set_webhook
from relay.send.errors import SendError
from relay.services import Services, now_ms
from relay.store import ChannelRow, Conflict

__all__ = ["channels_router", "viber_webhook_url"]

log = logging.getLogger("clientora.relay.channels")

# platform -> (field holding the external id, credential fields), from platform-apis.md §8.
_REQUIRED: dict[str, tuple[str, tuple[str, ...]]] = {
    "messenger": ("page_id", ("access_token",)),
    "instagram": ("account_id", ("access_token",)),
    "whatsapp": ("phone_number_id", ("access_token", "business_account_id")),
    "viber": ("", ("auth_token",)),
    "webchat": ("", ()),
}


def viber_webhook_url(services: Services, channel_id: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/webhooks/viber/{channel_id}"


def channel_info(services: Services, row: ChannelRow) -> ChannelInfo:
    return ChannelInfo(
        id=row.id,
        platform=row.platform,  # type: ignore[arg-type]
        external_id=row.external_id,
        name=row.name,
        status=row.status,
        created_at_ms=row.created_at_ms,
        webhook_url=viber_webhook_url(services, row.id) if row.platform == "viber" else None,
    )


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
    return external_id, secrets


@post("/", status_code=201)
async def connect(
    data: JSONBody[ConnectChannel],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelInfo:
    external_id, secrets = _fields(data)
    channel_id = uuid.uuid4().hex
    if data.platform in ("viber", "webchat"):
        # These are addressed by our channel id: each has its own webhook or page path.
        external_id = channel_id
    key_id, blob = encode_credentials(services.keyring, channel_id, secrets)
    try:
        row = await services.store.create_channel(
            principal.business_id, channel_id, data.platform, external_id, data.name, key_id, blob
        )
    except Conflict as exc:
        raise RelayError(409, "channel_taken", str(exc)) from None
    services.directory.add(row)
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
            services.directory.remove(row.id)
            await services.store.delete_channel(principal.business_id, row.id, None)
            raise RelayError(
                422, exc.code, f"Viber did not accept the bot: {exc.message}"
            ) from None
    await services.store.append(
        [
            system_event(
                principal.business_id,
                ChannelChanged(
                    timestamp_ms=now_ms(),
                    channel_id=row.id,
                    platform=data.platform,
                    status="connected",
                    name=data.name,
                ),
            )
        ]
    )
    log.info("channel connected", extra={"channel_id": row.id, "platform": row.platform})
    return channel_info(services, row)


@get("/")
async def list_channels(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> list[ChannelInfo]:
    return [
        channel_info(services, row) for row in await services.store.channels(principal.business_id)
    ]


@get("/{channel_id:str}")
async def show_channel(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelInfo:
    row = await services.store.channel(principal.business_id, channel_id)
    if row is None:
        raise RelayError(404, "unknown_channel", "No such channel in this business.")
    return channel_info(services, row)


@delete("/{channel_id:str}", status_code=204)
async def disconnect(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> None:
    row = await services.store.channel(principal.business_id, channel_id)
    if row is None:
        raise RelayError(404, "unknown_channel", "No such channel in this business.")
    farewell = system_event(
        principal.business_id,
        ChannelChanged(
            timestamp_ms=now_ms(),
            channel_id=row.id,
            platform=row.platform,  # type: ignore[arg-type]
            status="disconnected",
            name=row.name,
        ),
    )
    services.directory.remove(row.id)
    await services.store.delete_channel(principal.business_id, row.id, farewell)
    log.info("channel disconnected", extra={"channel_id": row.id, "platform": row.platform})


def channels_router() -> Router:
    return Router(
        "/v1/channels",
        route_handlers=[connect, list_channels, show_channel, disconnect],
        dependencies={"principal": Provide(provide_principal)},
    )
