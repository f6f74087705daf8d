"""Connect with Facebook on the wire: the login link, the assets to pick, the picks."""

from __future__ import annotations

from typing import Literal

import msgspec

from common.channels import Platform

__all__ = [
    "ConnectMetaAssets",
    "MetaAsset",
    "MetaLoginStarted",
    "MetaLoginState",
    "MetaLoginStatus",
    "StartMetaLogin",
]

#: ``pending``: the browser has not come back; ``ready``: pick from the assets;
#: ``failed``: the message says why; ``connected``: the picks became channels.
MetaLoginStatus = Literal["pending", "ready", "failed", "connected"]


class StartMetaLogin(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/onboarding/meta``: the device that opens the browser (the login is bound
    to it)."""

    device_id: str


class MetaLoginStarted(msgspec.Struct, frozen=True, kw_only=True):
    """Open ``login_url`` in the system browser (it works once, until ``expires_at_ms``),
    then follow the login by ``login_id``."""

    login_id: str
    login_url: str
    expires_at_ms: int


class MetaAsset(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A Page, Instagram account or WhatsApp number the owner may connect: ``id`` is what a
    pick names. No token, ever."""

    id: str
    platform: Platform
    external_id: str
    name: str
    detail: str | None = None
    picture_url: str | None = None
    #: The business has this channel already: picking it reconnects it.
    connected: bool = False


class MetaLoginState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``GET /v1/onboarding/meta/{login_id}``: where the sign-in stands; ``warnings``
    explain what was left out."""

    login_id: str
    status: MetaLoginStatus
    expires_at_ms: int
    message: str | None = None
    assets: list[MetaAsset] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)


class ConnectMetaAssets(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/onboarding/meta/{login_id}/connect``: the ``MetaAsset.id`` picks."""

    picks: list[str]
