"""Graph calls that manage a shop's Meta assets rather than send messages.

The OAuth code and token exchanges, the Pages, Instagram accounts and WhatsApp numbers a
login granted, webhook subscriptions and token checks. Built on :mod:`relay.send.meta`:
a token travels in ``Authorization: Bearer`` and every error response goes through
``graph_error`` (so code 190 is ``token_invalid`` everywhere). Two calls cannot keep every
secret out of the URL: the code exchange carries the app secret and the code in its query
string, as Meta documents it, and ``debug_token`` takes the token it checks as
``input_token``. The relay therefore keeps httpx's request log off (relay/logs.py), and no
error built here holds a URL or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, TypeVar

import httpx
import msgspec

from common.channels import Platform
from relay.send.errors import SendError, network_error
from relay.send.meta import GraphErrorDetail, graph_error, graph_post, node_url

__all__ = [
    "PAGE_FIELDS",
    "GranularScope",
    "InstagramAccount",
    "NodeKind",
    "PageGrant",
    "PhoneNumber",
    "TokenGrant",
    "TokenInfo",
    "WhatsAppAccount",
    "can_read",
    "debug_token",
    "exchange_code",
    "instagram_account",
    "long_lived",
    "managed_pages",
    "phone_numbers",
    "subscribe",
    "subscribed",
    "unsubscribe",
    "whatsapp_account",
]

#: The Page webhook fields the relay's parser understands (relay/webhooks/meta.py), echoes
#: included so a reply typed in Meta's own inbox reaches the desktops too.
PAGE_FIELDS: Final = (
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_reactions",
    "message_reads",
    "message_deliveries",
    "message_edits",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
)
#: Graph pages are followed this many times at most (100 items each).
MAX_PAGES: Final = 10

NodeKind = Literal["page", "waba"]
T = TypeVar("T")

# Names the platform in a mapped error's message; callers word their own for the owner.
_PAGE: Final[Platform] = "messenger"
_WABA: Final[Platform] = "whatsapp"


class TokenGrant(msgspec.Struct, frozen=True):
    """``/oauth/access_token``'s answer: ``expires_in`` seconds, absent for tokens that last."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token kind, not a secret
    expires_in: int | None = None


class GranularScope(msgspec.Struct, frozen=True):
    scope: str
    target_ids: list[str | int] = msgspec.field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return [str(target) for target in self.target_ids]


class TokenInfo(msgspec.Struct, frozen=True):
    """``debug_token``'s ``data``: ``expires_at`` 0 means the token never expires."""

    is_valid: bool = False
    type: str = ""
    app_id: str | int | None = None
    user_id: str | int | None = None
    expires_at: int = 0
    scopes: list[str] = msgspec.field(default_factory=list)
    granular_scopes: list[GranularScope] = msgspec.field(default_factory=list)
    error: GraphErrorDetail | None = None

    def targets(self, scope: str) -> list[str]:
        """The ids a granular scope names (WhatsApp accounts, Pages), newest first."""
        for granular in self.granular_scopes:
            if granular.scope == scope:
                return granular.targets
        return []


class _Debugged(msgspec.Struct, frozen=True):
    data: TokenInfo


class NodeRef(msgspec.Struct, frozen=True):
    id: str | int


class PageGrant(msgspec.Struct, frozen=True):
    """A Page from ``/me/accounts``: its token, and the tasks the person may do on it."""

    id: str | int
    name: str = ""
    access_token: str = ""
    tasks: list[str] = msgspec.field(default_factory=list)
    instagram_business_account: NodeRef | None = None

    def __repr__(self) -> str:  # the Page token stays out of logs
        return f"PageGrant(id={self.id!r}, name={self.name!r})"


class InstagramAccount(msgspec.Struct, frozen=True):
    id: str | int
    username: str = ""
    name: str | None = None
    profile_picture_url: str | None = None


class _PageWithInstagram(msgspec.Struct, frozen=True):
    instagram_business_account: InstagramAccount | None = None


class WhatsAppAccount(msgspec.Struct, frozen=True):
    id: str | int
    name: str = ""


class PhoneNumber(msgspec.Struct, frozen=True):
    id: str | int
    display_phone_number: str = ""
    verified_name: str = ""


class _Cursors(msgspec.Struct, frozen=True):
    after: str | None = None


class _Paging(msgspec.Struct, frozen=True):
    cursors: _Cursors | None = None
    next: str | None = None


class _PageOf(msgspec.Struct, frozen=True):
    data: list[msgspec.Raw]
    paging: _Paging | None = None


class _Subscription(msgspec.Struct, frozen=True):
    """One app on a node's ``subscribed_apps``: Pages name it by ``id``, WhatsApp accounts
    in ``whatsapp_business_api_data``."""

    id: str | int | None = None
    subscribed_fields: list[str] = msgspec.field(default_factory=list)
    whatsapp_business_api_data: NodeRef | None = None


class _Subscriptions(msgspec.Struct, frozen=True):
    data: list[_Subscription] = msgspec.field(default_factory=list)


# ---- requests -----------------------------------------------------------------------------


async def _get(
    http: httpx.AsyncClient,
    url: str,
    *,
    token: str | None,
    params: Mapping[str, str],
    secrets: Sequence[str],
    platform: Platform,
) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await http.get(url, params=dict(params), headers=headers)
    except httpx.TransportError as exc:
        raise network_error(platform, exc) from None
    if response.is_success:
        return response.content
    raise graph_error(
        platform,
        response.status_code,
        response.headers,
        response.content,
        secrets=tuple(s for s in (token, *secrets) if s),
    )


async def _delete(http: httpx.AsyncClient, url: str, token: str, platform: Platform) -> None:
    try:
        response = await http.delete(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError as exc:
        raise network_error(platform, exc) from None
    if not response.is_success:
        raise graph_error(
            platform, response.status_code, response.headers, response.content, secrets=(token,)
        )


def _decode(content: bytes, type_: type[T], what: str) -> T:
    try:
        return msgspec.json.decode(content, type=type_)
    except msgspec.DecodeError:
        raise SendError(
            "platform_error", f"Facebook's answer about {what} was unreadable.", detail=what
        ) from None


def _node(base: str, node_id: str) -> str:
    return node_url(base, node_id, "").rstrip("/")


async def can_read(
    http: httpx.AsyncClient, base: str, node_id: str, token: str, platform: Platform, edge: str = ""
) -> None:
    """Returns when Graph lets ``token`` read ``node_id`` (or its ``edge``); raises the
    platform's refusal as a :class:`SendError` otherwise."""
    await _get(
        http,
        node_url(base, node_id, edge) if edge else _node(base, node_id),
        token=token,
        params={"fields": "id", "limit": "1"} if edge else {"fields": "id"},
        secrets=(),
        platform=platform,
    )


async def _paged(
    http: httpx.AsyncClient,
    url: str,
    token: str,
    params: Mapping[str, str],
    type_: type[T],
    what: str,
    platform: Platform,
) -> list[T]:
    """Every item of a Graph list, following ``after`` cursors (the token stays in the header:
    Graph's own ``paging.next`` URLs carry it in the query)."""
    items: list[T] = []
    query = {**params, "limit": "100"}
    for _ in range(MAX_PAGES):
        page = _decode(
            await _get(http, url, token=token, params=query, secrets=(), platform=platform),
            _PageOf,
            what,
        )
        items.extend(_decode(raw, type_, what) for raw in page.data)
        after = page.paging.cursors.after if page.paging and page.paging.cursors else None
        if not page.data or not after or not (page.paging and page.paging.next):
            break
        query = {**query, "after": after}
    return items


# ---- OAuth and tokens -------------------------------------------------------------------


async def exchange_code(
    http: httpx.AsyncClient,
    base: str,
    *,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    code: str,
) -> TokenGrant:
    """Trade the login dialog's ``code`` for a token; ``redirect_uri`` must be the dialog's."""
    params = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "client_secret": app_secret,
        "code": code,
    }
    return await _oauth_token(http, base, params, (app_secret, code), "the sign-in code")


async def long_lived(
    http: httpx.AsyncClient, base: str, *, app_id: str, app_secret: str, token: str
) -> TokenGrant:
    """Exchange a short-lived user token for a long-lived one (about 60 days)."""
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": app_id,
        "client_secret": app_secret,
        "fb_exchange_token": token,
    }
    return await _oauth_token(http, base, params, (app_secret, token), "the long-lived token")


async def _oauth_token(
    http: httpx.AsyncClient,
    base: str,
    params: Mapping[str, str],
    secrets: Sequence[str],
    what: str,
) -> TokenGrant:
    """A token from Graph's OAuth endpoint (the app's secret goes in ``params``)."""
    content = await _get(
        http,
        f"{base.rstrip('/')}/oauth/access_token",
        token=None,
        params=params,
        secrets=secrets,
        platform=_PAGE,
    )
    return _decode(content, TokenGrant, what)


async def debug_token(
    http: httpx.AsyncClient, base: str, *, app_id: str, app_secret: str, token: str
) -> TokenInfo:
    """What Graph says of ``token``: valid or not, its kind, expiry, permissions and targets.

    The app token (``app_id|app_secret``) authenticates the call, in the header. An invalid
    ``token`` is an answer (``is_valid`` false), not an error.
    """
    app_token = f"{app_id}|{app_secret}"
    content = await _get(
        http,
        f"{base.rstrip('/')}/debug_token",
        token=app_token,
        params={"input_token": token},
        secrets=(app_secret, token),
        platform=_PAGE,
    )
    return _decode(content, _Debugged, "the access token").data


# ---- what a login granted ---------------------------------------------------------------


async def managed_pages(http: httpx.AsyncClient, base: str, user_token: str) -> list[PageGrant]:
    """The Pages the person granted, each with its Page token and the person's tasks."""
    return await _paged(
        http,
        f"{base.rstrip('/')}/me/accounts",
        user_token,
        {"fields": "id,name,access_token,tasks,instagram_business_account"},
        PageGrant,
        "your Facebook Pages",
        _PAGE,
    )


async def instagram_account(
    http: httpx.AsyncClient, base: str, page_id: str, page_token: str
) -> InstagramAccount | None:
    """The Instagram professional account linked to a Page, with its name and picture."""
    content = await _get(
        http,
        _node(base, page_id),
        token=page_token,
        params={"fields": "instagram_business_account{id,username,name,profile_picture_url}"},
        secrets=(),
        platform="instagram",
    )
    return _decode(content, _PageWithInstagram, "an Instagram account").instagram_business_account


async def whatsapp_account(
    http: httpx.AsyncClient, base: str, waba_id: str, token: str
) -> WhatsAppAccount:
    content = await _get(
        http,
        _node(base, waba_id),
        token=token,
        params={"fields": "id,name"},
        secrets=(),
        platform=_WABA,
    )
    return _decode(content, WhatsAppAccount, "a WhatsApp Business account")


async def phone_numbers(
    http: httpx.AsyncClient, base: str, waba_id: str, token: str
) -> list[PhoneNumber]:
    return await _paged(
        http,
        node_url(base, waba_id, "phone_numbers"),
        token,
        {"fields": "id,display_phone_number,verified_name"},
        PhoneNumber,
        "WhatsApp phone numbers",
        _WABA,
    )


# ---- webhook subscriptions --------------------------------------------------------------


def _platform(kind: NodeKind) -> Platform:
    return _PAGE if kind == "page" else _WABA


async def subscribe(
    http: httpx.AsyncClient, base: str, kind: NodeKind, node_id: str, token: str
) -> None:
    """Subscribe this app to the node's webhooks (a Page: the messaging fields)."""
    body: dict[str, str] = {"subscribed_fields": ",".join(PAGE_FIELDS)} if kind == "page" else {}
    await graph_post(http, node_url(base, node_id, "subscribed_apps"), token, body, _platform(kind))


async def unsubscribe(
    http: httpx.AsyncClient, base: str, kind: NodeKind, node_id: str, token: str
) -> None:
    await _delete(http, node_url(base, node_id, "subscribed_apps"), token, _platform(kind))


async def subscribed(
    http: httpx.AsyncClient, base: str, kind: NodeKind, node_id: str, token: str, app_id: str
) -> bool:
    """Whether this app (``app_id``; any app when empty) gets the node's webhooks; for a
    Page, with the ``messages`` field."""
    content = await _get(
        http,
        node_url(base, node_id, "subscribed_apps"),
        token=token,
        params={},
        secrets=(),
        platform=_platform(kind),
    )
    for app in _decode(content, _Subscriptions, "webhook subscriptions").data:
        if kind == "page":
            if (not app_id or str(app.id) == app_id) and "messages" in app.subscribed_fields:
                return True
        else:
            ref = app.whatsapp_business_api_data
            if ref is not None and (not app_id or str(ref.id) == app_id):
                return True
    return False
