"""Which Page, WhatsApp Business account or Viber webhook brings a channel's messages,
and subscribing or unsubscribing the app there."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from relay.directory import decode_credentials
from relay.errors import RelayError
from relay.send import graph_admin as graph
from relay.send import viber_set_webhook
from relay.send.errors import SendError
from relay.services import Services
from relay.store import ChannelRow

__all__ = ["Access", "access_of", "subscribe", "unsubscribe_channel", "viber_webhook_url"]

log = logging.getLogger("clientora.relay.health")


@dataclass(frozen=True, slots=True)
class Access:
    """How a channel's webhooks are subscribed: on a Page, a WhatsApp Business account
    (``node_id``), or a Viber bot; with the credential that may do it."""

    kind: Literal["page", "waba", "viber", "none"]
    node_id: str
    token: str

    def __repr__(self) -> str:  # the credential stays out of logs
        return f"Access(kind={self.kind!r}, node_id={self.node_id!r})"


def access_of(services: Services, row: ChannelRow) -> Access:
    if row.platform == "webchat":
        return Access("none", "", "")
    secrets = decode_credentials(services.keyring, row)
    if row.platform == "viber":
        return Access("viber", "", secrets.get("auth_token", ""))
    token = secrets.get("access_token", "")
    if row.platform == "messenger":
        return Access("page", row.external_id, token)
    if row.platform == "instagram":
        # An Instagram account's messages come through its linked Page's subscription.
        return Access("page", secrets.get("page_id", ""), token)
    return Access("waba", secrets.get("business_account_id", ""), token)


def viber_webhook_url(services: Services, channel_id: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/webhooks/viber/{channel_id}"


async def subscribe(services: Services, row: ChannelRow) -> None:
    """Subscribe the app to the channel's webhooks; SendError as the platform answered,
    RelayError (422) when there is nothing to subscribe."""
    access = access_of(services, row)
    if access.kind == "none":
        raise RelayError(422, "bad_request", "A web-chat channel needs no subscription.")
    if access.kind == "viber":
        await viber_set_webhook(
            services.http, services.urls, access.token, viber_webhook_url(services, row.id)
        )
        return
    if not access.node_id:
        raise RelayError(
            422,
            "bad_request",
            "Clientora does not know which Page this account's messages come through;"
            " connect it with Facebook instead.",
        )
    await graph.subscribe(
        services.http, services.urls.graph, access.kind, access.node_id, access.token
    )


async def unsubscribe_channel(services: Services, row: ChannelRow) -> None:
    """Before a channel's credentials are erased: stop its webhooks, unless another channel
    still needs them (a Page shared by Messenger and Instagram, numbers of one WhatsApp
    account). Best effort: a failure is logged and the disconnect goes on."""
    try:
        access = access_of(services, row)
        if access.kind == "viber":
            await viber_set_webhook(services.http, services.urls, access.token, "")
            return
        if access.kind not in ("page", "waba") or not access.node_id:
            return
        sharing = set(await services.store.channels_on_node(access.node_id))
        if access.kind == "page":
            messenger = services.directory.resolve("messenger", access.node_id)
            if messenger is not None:
                sharing.add(messenger)
        if sharing - {row.id}:
            log.info("webhooks kept for other channels", extra={"channel_id": row.id})
            return
        await graph.unsubscribe(
            services.http, services.urls.graph, access.kind, access.node_id, access.token
        )
    except Exception as exc:
        detail = exc.detail if isinstance(exc, SendError) else type(exc).__name__
        log.warning("unsubscribing failed", extra={"channel_id": row.id, "detail": detail})
