"""What a Meta login granted: the code exchanged for tokens, and the Pages (with the
owner's tasks), linked Instagram professional accounts and WhatsApp numbers it reaches,
each with the token that serves it. The listing is sealed by relay/onboarding.py."""

from __future__ import annotations

import logging
import time
from typing import Final

import msgspec

from common.channels import Platform
from relay.send import graph_admin as graph
from relay.send.errors import SendError
from relay.services import Services, now_ms

__all__ = [
    "GrantedAsset",
    "Listing",
    "LoginFailed",
    "collect",
    "describe",
    "log_graph",
]

log = logging.getLogger("clientora.relay.onboarding")

#: What each kind of asset needs the owner to have granted.
MESSENGER_SCOPE: Final = "pages_messaging"
INSTAGRAM_SCOPE: Final = "instagram_manage_messages"
WHATSAPP_SCOPES: Final = ("whatsapp_business_management", "whatsapp_business_messaging")


class GrantedAsset(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing the owner may connect, with the token that serves it (never shown)."""

    id: str
    platform: Platform
    external_id: str
    name: str
    detail: str | None = None
    picture_url: str | None = None
    #: The Page or WhatsApp Business account whose webhooks bring its messages.
    node_id: str
    access_token: str
    page_id: str | None = None
    business_account_id: str | None = None

    def __repr__(self) -> str:  # the token stays out of logs
        return f"GrantedAsset(id={self.id!r})"

    def secrets(self) -> dict[str, str]:
        found = {"access_token": self.access_token}
        if self.page_id:
            found["page_id"] = self.page_id
        if self.business_account_id:
            found["business_account_id"] = self.business_account_id
        return found


class Listing(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything one login granted; sealed while the owner picks."""

    assets: list[GrantedAsset]
    warnings: list[str] = msgspec.field(default_factory=list)
    #: When the user token behind WhatsApp numbers expires (None: it does not).
    token_expires_at_ms: int | None = None


class LoginFailed(Exception):
    """The sign-in cannot go on; ``message`` is for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def describe(assets: list[GrantedAsset]) -> str:
    """``2 Pages, 1 WhatsApp number``: for the page the browser shows."""
    kinds = {"messenger": "Page", "instagram": "Instagram account", "whatsapp": "WhatsApp number"}
    parts = []
    for platform, word in kinds.items():
        n = sum(1 for a in assets if a.platform == platform)
        if n:
            parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    return ", ".join(parts) or "nothing"


async def collect(services: Services, code: str, redirect_uri: str) -> Listing:
    """Code -> token -> long-lived token -> what it may reach. Raises LoginFailed in plain
    words; ``redirect_uri`` must be the one the login dialog was given."""
    settings = services.settings
    http, base = services.http, services.urls.graph
    app = {"app_id": settings.meta_app_id, "app_secret": settings.meta_app_secret}
    try:
        grant = await graph.exchange_code(http, base, redirect_uri=redirect_uri, code=code, **app)
    except SendError as exc:
        log_graph("code exchange", exc)
        raise LoginFailed(
            "Facebook did not accept the sign-in (the code may have expired or been used"
            " already). Nothing was connected; start again from Clientora."
        ) from None
    try:
        info = await graph.debug_token(http, base, token=grant.access_token, **app)
        token = grant.access_token
        expires_ms = info.expires_at * 1000 if info.expires_at else None
        if info.type == "USER" and info.expires_at:
            # Page tokens read with a long-lived user token never expire (platform-apis §8).
            extended = await graph.long_lived(http, base, token=token, **app)
            token = extended.access_token
            expires_ms = now_ms() + extended.expires_in * 1000 if extended.expires_in else None
            info = await graph.debug_token(http, base, token=token, **app)
    except SendError as exc:
        log_graph("token exchange", exc)
        raise LoginFailed(
            f"Facebook did not complete the sign-in ({exc.message}). Nothing was connected."
        ) from None
    if not info.is_valid:
        raise LoginFailed("Facebook gave Clientora an access that does not work. Start again.")
    granted = set(info.scopes)
    warnings: list[str] = []
    try:
        assets = await _pages(services, token, granted, warnings)
        assets += await _whatsapp(services, token, info, granted, warnings)
    except SendError as exc:
        log_graph("listing assets", exc)
        raise LoginFailed(
            f"Facebook did not list what you shared ({exc.message}). Nothing was connected;"
            " try again in a moment."
        ) from None
    if not assets:
        reasons = " ".join(warnings) or (
            "No Page, Instagram professional account or WhatsApp number was shared."
        )
        raise LoginFailed(
            f"Facebook gave Clientora nothing it can connect. {reasons} Press Connect with"
            " Facebook again and choose your Pages, Instagram accounts and WhatsApp numbers."
        )
    if expires_ms is not None and any(a.platform == "whatsapp" for a in assets):
        warnings.append(
            "The WhatsApp access from this sign-in lasts until"
            f" {time.strftime('%Y-%m-%d', time.gmtime(expires_ms / 1000))}; Clientora reminds"
            " you to reconnect before then."
        )
    return Listing(assets=assets, warnings=warnings, token_expires_at_ms=expires_ms)


async def _pages(
    services: Services, token: str, granted: set[str], warnings: list[str]
) -> list[GrantedAsset]:
    http, base = services.http, services.urls.graph
    pages = await graph.managed_pages(http, base, token)
    usable = [p for p in pages if "MESSAGING" in p.tasks and p.access_token]
    if len(usable) < len(pages):
        n = len(pages) - len(usable)
        warnings.append(
            f"{n} Page{' was' if n == 1 else 's were'} left out: your role there cannot send"
            " messages (ask a Page admin for a role with the Messaging task)."
        )
    if usable and MESSENGER_SCOPE not in granted:
        warnings.append(
            "You did not allow Clientora to manage your Pages' messages, so no Page can be"
            " connected to Messenger."
        )
    linked = [p for p in usable if p.instagram_business_account is not None]
    if linked and INSTAGRAM_SCOPE not in granted:
        warnings.append(
            "You did not allow Clientora to manage Instagram messages, so no Instagram"
            " account can be connected."
        )
    assets: list[GrantedAsset] = []
    for page in usable:
        page_id = str(page.id)
        if MESSENGER_SCOPE in granted:
            assets.append(
                GrantedAsset(
                    id=f"messenger:{page_id}",
                    platform="messenger",
                    external_id=page_id,
                    name=page.name or page_id,
                    detail="Facebook Page",
                    node_id=page_id,
                    access_token=page.access_token,
                )
            )
        if page.instagram_business_account is None or INSTAGRAM_SCOPE not in granted:
            continue
        try:
            account = await graph.instagram_account(http, base, page_id, page.access_token)
        except SendError as exc:
            # One unreadable account must not hide everything else that was granted.
            log_graph("reading an Instagram account", exc)
            warnings.append(
                f"The Instagram account linked to {page.name or page_id} could not be read"
                f" ({exc.message}); connect it again later."
            )
            continue
        if account is None:
            continue
        account_id = str(account.id)
        handle = f"@{account.username}" if account.username else account_id
        assets.append(
            GrantedAsset(
                id=f"instagram:{account_id}",
                platform="instagram",
                external_id=account_id,
                name=account.name or handle,
                detail=f"{handle}, linked to the Page {page.name or page_id}",
                picture_url=account.profile_picture_url,
                node_id=page_id,
                access_token=page.access_token,
                page_id=page_id,
            )
        )
    return assets


async def _whatsapp(
    services: Services,
    token: str,
    info: graph.TokenInfo,
    granted: set[str],
    warnings: list[str],
) -> list[GrantedAsset]:
    accounts = info.targets(WHATSAPP_SCOPES[0])
    if not accounts:
        return []
    if WHATSAPP_SCOPES[1] not in granted:
        warnings.append(
            "You did not allow Clientora to send WhatsApp messages, so no WhatsApp number can"
            " be connected."
        )
        return []
    http, base = services.http, services.urls.graph
    assets: list[GrantedAsset] = []
    for account_id in accounts:
        try:
            account = await graph.whatsapp_account(http, base, account_id, token)
            numbers = await graph.phone_numbers(http, base, account_id, token)
        except SendError as exc:
            log_graph("reading a WhatsApp account", exc)
            warnings.append(
                f"The WhatsApp Business account {account_id} could not be read ({exc.message})."
            )
            continue
        for number in numbers:
            number_id = str(number.id)
            assets.append(
                GrantedAsset(
                    id=f"whatsapp:{number_id}",
                    platform="whatsapp",
                    external_id=number_id,
                    name=number.verified_name or account.name or number.display_phone_number,
                    detail=f"{number.display_phone_number}, {account.name or account_id}",
                    node_id=account_id,
                    access_token=token,
                    business_account_id=account_id,
                )
            )
    return assets


def log_graph(step: str, exc: SendError) -> None:
    log.warning(
        "meta login step failed", extra={"step": step, "code": exc.code, "detail": exc.detail}
    )
