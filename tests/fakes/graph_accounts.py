"""The fake Graph API's account side: Meta's login dialog, tokens, Pages, Instagram and
WhatsApp accounts, webhook subscriptions and ``debug_token``.

``FakeGraph(..., app_id=, app_secret=, config_ids=)`` owns one :class:`MetaAccounts`
(``fake.meta``). Tests describe a person with :class:`MetaUser` (tests/fakes/meta_users.py:
their Pages, linked Instagram accounts, WhatsApp accounts and numbers, the permissions
they grant, whether they cancel) and ``fake.meta.sign_in(user)``; the dialog at
``/v25.0/dialog/oauth`` then redirects the browser back with a code (or Meta's cancel
error) as Meta does. Every call
checks what it receives the way Graph does: app id and secret, the exact redirect URI,
single-use codes, the right kind of token for each node, known webhook fields.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from tests.fakes.graph import Canned, FakeGraph, GraphRefusal, graph_error, json_response
from tests.fakes.meta_users import (
    ALL_SCOPES,
    FakeInstagram,
    FakePage,
    FakePhone,
    FakeWhatsApp,
    MetaUser,
)

__all__ = [
    "ALL_SCOPES",
    "PAGE_WEBHOOK_FIELDS",
    "FakeInstagram",
    "FakePage",
    "FakePhone",
    "FakeWhatsApp",
    "MetaAccounts",
    "MetaUser",
    "account_routes",
]

PAGE_WEBHOOK_FIELDS: Final = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_optins",
        "messaging_referrals",
        "message_deliveries",
        "message_reads",
        "message_echoes",
        "message_reactions",
        "message_edits",
        "messaging_handovers",
        "feed",
    }
)
SHORT_LIVED_S: Final = 2 * 3600
LONG_LIVED_S: Final = 60 * 24 * 3600


@dataclass(slots=True)
class _Token:
    kind: Literal["USER", "PAGE"]
    user: MetaUser | None
    expires_at: int  # seconds since the epoch; 0: never
    page_id: str | None = None


@dataclass(slots=True)
class _Code:
    user: MetaUser
    redirect_uri: str
    used: bool = False


@dataclass(slots=True)
class DialogVisit:
    """One browser visit of the login dialog, with the query it carried."""

    query: dict[str, str]
    redirected_to: str | None = None


@dataclass
class MetaAccounts:
    """The account-side state of a fake Graph (see the module docstring)."""

    graph: FakeGraph
    app_id: str
    app_secret: str
    config_ids: frozenset[str]
    redirect_uris: frozenset[str] | None = None
    app_name: str = "Clientora Test App"
    user: MetaUser | None = None
    visits: list[DialogVisit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _pages: dict[str, tuple[FakePage, MetaUser]] = field(default_factory=dict)
    _wabas: dict[str, tuple[FakeWhatsApp, MetaUser]] = field(default_factory=dict)
    _subscriptions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _failing: dict[str, Canned] = field(default_factory=dict)
    _failing_reads: dict[str, Canned] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- what tests do ---------------------------------------------------------------

    def sign_in(self, user: MetaUser) -> None:
        """``user`` is the person the next dialog visits belong to; their Pages' tokens,
        Instagram accounts and numbers become known to the Send API too."""
        with self._lock:
            self.user = user
            for page in user.pages:
                self._pages[page.id] = (page, user)
                self._tokens[page.token] = _Token("PAGE", user, 0, page.id)
                self.graph.tokens.add(page.token)
                if page.instagram is not None:
                    self.graph.instagram_ids.add(page.instagram.id)
            for account in user.whatsapp:
                self._wabas[account.id] = (account, user)
                self.graph.whatsapp_numbers.update(p.id for p in account.phones)

    def revoke(self, token: str) -> None:
        """The token stops working (password changed, app removed): Graph answers 190."""
        with self._lock:
            self._tokens.pop(token, None)
            self.graph.tokens.discard(token)

    def subscribed_fields(self, node_id: str) -> tuple[str, ...] | None:
        """The fields this app gets from ``node_id`` (``()`` for a WhatsApp account), or None."""
        with self._lock:
            return self._subscriptions.get(node_id)

    def drop_subscription(self, node_id: str) -> None:
        """As if someone removed the app from the Page or account in Meta's settings."""
        with self._lock:
            self._subscriptions.pop(node_id, None)

    def fail_subscription(self, node_id: str, body: Any, status: int = 400) -> None:
        """Answer every POST to ``node_id``'s subscribed_apps with this error."""
        with self._lock:
            self._failing[node_id] = Canned(status, body)

    def fail_lookup(self, node_id: str, body: Any, status: int = 400) -> None:
        """Answer every read of ``node_id`` (the node, its phone numbers) with this error."""
        with self._lock:
            self._failing_reads[node_id] = Canned(status, body)

    def tokens_of(self, kind: Literal["USER", "PAGE"]) -> list[str]:
        with self._lock:
            return [t for t, info in self._tokens.items() if info.kind == kind]

    # -- the dialog ------------------------------------------------------------------

    def dialog(self, query: dict[str, str]) -> Response[Any]:
        visit = DialogVisit(dict(query))
        with self._lock:
            self.visits.append(visit)
        problem = self._dialog_problem(query)
        if problem is not None:
            # Meta shows its own error page; nothing goes back to the app.
            return Response(problem, status_code=400, media_type="text/plain")
        user = self.user
        assert user is not None, "call meta.sign_in(user) first"
        back: dict[str, str]
        if user.decision == "cancel":
            back = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
                "state": query["state"],
            }
        else:
            code = f"AQ{secrets.token_urlsafe(24)}"
            with self._lock:
                self._codes[code] = _Code(user, query["redirect_uri"])
            back = {"code": code, "state": query["state"]}
        location = f"{query['redirect_uri']}?{urlencode(back)}#_=_"
        visit.redirected_to = location
        return Response(b"", status_code=302, headers={"Location": location})

    def _dialog_problem(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.app_id:
            return "Invalid App ID: the client_id does not belong to an app."
        redirect = query.get("redirect_uri", "")
        parts = urlsplit(redirect)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "redirect_uri must be an absolute URL."
        if self.redirect_uris is not None and redirect not in self.redirect_uris:
            return "URL blocked: this redirect failed because the redirect URI is not whitelisted."
        if query.get("config_id") not in self.config_ids:
            return "Invalid config_id for this app."
        if query.get("response_type") != "code":
            return "response_type must be code for this configuration."
        if not query.get("state"):
            return "The state parameter is required by this test fake."
        return None

    # -- OAuth -----------------------------------------------------------------------

    def _check_app(self, query: dict[str, str]) -> None:
        if query.get("client_id") != self.app_id:
            raise GraphRefusal(101, "Error validating application. Invalid application ID.")
        if query.get("client_secret") != self.app_secret:
            raise GraphRefusal(1, "Error validating client secret.")

    def access_token(self, query: dict[str, str]) -> Canned:
        self._check_app(query)
        if query.get("grant_type") == "fb_exchange_token":
            info = self._user_token(query.get("fb_exchange_token", ""))
            return self._grant(info.user, LONG_LIVED_S)
        for name in ("redirect_uri", "code"):
            if not query.get(name):
                raise GraphRefusal(100, f"Missing {name} parameter.")
        with self._lock:
            code = self._codes.get(query["code"])
            if code is None:
                raise GraphRefusal(100, "Invalid verification code format.", subcode=36007)
            if code.used:
                raise GraphRefusal(100, "This authorization code has been used.", subcode=36009)
            if code.redirect_uri != query["redirect_uri"]:
                raise GraphRefusal(
                    100,
                    "Error validating verification code. Please make sure your redirect_uri is"
                    " identical to the one you used in the OAuth dialog request",
                    subcode=36008,
                )
            code.used = True
        return self._grant(code.user, SHORT_LIVED_S)

    def _grant(self, user: MetaUser | None, lifetime_s: int) -> Canned:
        token = f"EAAU{next(self._ids):04d}{secrets.token_urlsafe(20)}"
        with self._lock:
            self._tokens[token] = _Token("USER", user, int(time.time()) + lifetime_s)
            self.graph.tokens.add(token)
        return Canned(
            200, {"access_token": token, "token_type": "bearer", "expires_in": lifetime_s}
        )

    def _user_token(self, token: str) -> _Token:
        with self._lock:
            info = self._tokens.get(token)
        if info is None or info.kind != "USER" or info.user is None:
            raise GraphRefusal(
                190, "Invalid OAuth access token - Cannot parse access token", status=401
            )
        return info

    def _token_from(self, request: Request[Any, Any, Any]) -> str:
        return self.graph.check_token(request)

    def debug_token(self, request: Request[Any, Any, Any]) -> Canned:
        app_token = self._token_from_header_or_query(request)
        if app_token != f"{self.app_id}|{self.app_secret}":
            raise GraphRefusal(190, "Invalid OAuth access token signature.", status=401)
        token = request.query_params.get("input_token", "")
        if not token:
            raise GraphRefusal(100, "The parameter input_token is required")
        with self._lock:
            info = self._tokens.get(token)
            legacy = info is None and token in self.graph.tokens
        if info is None and not legacy:
            return Canned(
                200,
                {
                    "data": {
                        "error": {
                            "code": 190,
                            "message": "Error validating access token: The session has been"
                            " invalidated because the user changed their password.",
                            "subcode": 460,
                        },
                        "is_valid": False,
                        "scopes": [],
                    }
                },
            )
        data: dict[str, Any] = {
            "app_id": self.app_id,
            "type": info.kind if info else "PAGE",
            "application": self.app_name,
            "expires_at": info.expires_at if info else 0,
            "is_valid": True,
        }
        user = info.user if info else None
        if user is not None:
            data["scopes"] = list(user.scopes)
            data["user_id"] = user.id
            granular = [
                {"scope": "pages_messaging", "target_ids": [p.id for p in user.pages]},
                {
                    "scope": "whatsapp_business_management",
                    "target_ids": [w.id for w in user.whatsapp],
                },
                {
                    "scope": "whatsapp_business_messaging",
                    "target_ids": [w.id for w in user.whatsapp],
                },
            ]
            data["granular_scopes"] = [
                g for g in granular if g["scope"] in user.scopes and g["target_ids"]
            ]
        else:
            data["scopes"] = ["pages_messaging", "pages_manage_metadata"]
        if info is not None and info.page_id is not None:
            data["profile_id"] = info.page_id
        return Canned(200, {"data": data})

    def _token_from_header_or_query(self, request: Request[Any, Any, Any]) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        token = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
        return token or request.query_params.get("access_token", "")

    # -- what a token reaches ----------------------------------------------------------

    def accounts(self, request: Request[Any, Any, Any]) -> Canned:
        info = self._user_token(self._token_from(request))
        user = info.user
        assert user is not None
        fields = _fields(request.query_params.get("fields", "id,name"))
        pages = [p for p in user.pages if "pages_show_list" in user.scopes]
        limit = int(request.query_params.get("limit", "25"))
        start = int(request.query_params.get("after", "cursor-0").removeprefix("cursor-"))
        chunk = pages[start : start + limit]
        items = [self._page_fields(page, fields) for page in chunk]
        body: dict[str, Any] = {"data": items}
        if chunk:
            body["paging"] = {
                "cursors": {"before": f"cursor-{start}", "after": f"cursor-{start + len(chunk)}"}
            }
            if start + len(chunk) < len(pages):
                body["paging"]["next"] = "https://graph.example/next-page-with-a-token-in-it"
        return Canned(200, body)

    def _page_fields(self, page: FakePage, fields: dict[str, list[str]]) -> dict[str, Any]:
        known = {
            "id": page.id,
            "name": page.name,
            "access_token": page.token,
            "tasks": list(page.tasks),
            "category": "Restaurant",
        }
        out: dict[str, Any] = {}
        for name, sub in fields.items():
            if name == "instagram_business_account":
                if page.instagram is not None:
                    out[name] = _instagram_fields(page.instagram, sub or ["id"])
            elif name in known:
                out[name] = known[name]
            else:
                raise GraphRefusal(100, f"(#100) Tried accessing nonexisting field ({name})")
        return out

    def knows(self, node_id: str) -> bool:
        """Whether ``node_id`` is a Page, Instagram account, WhatsApp account or number
        of a person who signed in."""
        return node_id in self._pages or self._owner_of(node_id) is not None

    def _owner_of(self, node_id: str) -> tuple[Literal["page", "waba"], str] | None:
        """The Page an Instagram account hangs off, or the WhatsApp account of a number."""
        with self._lock:
            for page, _ in self._pages.values():
                if page.instagram is not None and page.instagram.id == node_id:
                    return "page", page.id
            for account, _ in self._wabas.values():
                if any(phone.id == node_id for phone in account.phones):
                    return "waba", account.id
        return None

    def node(self, request: Request[Any, Any, Any], node_id: str, edge: str = "") -> Canned:
        token = self._token_from(request)
        failing = self._failing_reads.get(node_id)
        if failing is not None:
            return failing
        fields = _fields(request.query_params.get("fields", "id,name"))
        page = self._pages.get(node_id)
        if page is not None:
            self._may_manage_page(token, node_id)
            with self._lock:
                info = self._tokens.get(token)
            if edge and info is not None and info.kind != "PAGE":
                raise GraphRefusal(190, "This method must be called with a Page Access Token")
            if edge:
                return Canned(200, {"data": []})
            return Canned(200, {"id": node_id, **self._page_fields(page[0], fields)})
        owner = self._owner_of(node_id)
        if owner is not None:
            kind, owner_id = owner
            if kind == "page":
                self._may_manage_page(token, owner_id)
            else:
                self._may_manage_waba(token, owner_id)
            return Canned(200, {"id": node_id})
        waba = self._wabas.get(node_id)
        if waba is not None:
            self._may_manage_waba(token, node_id)
            account = waba[0]
            known = {"id": account.id, "name": account.name, "currency": "EUR"}
            return Canned(200, {name: known[name] for name in fields if name in known})
        with self._lock:
            pasted = token not in self._tokens
        if pasted:  # a pasted test token reads nodes nobody signed in with
            return self.graph.read(request, node_id, edge)
        raise _no_such_object(node_id)

    def phone_numbers(self, request: Request[Any, Any, Any], node_id: str) -> Canned:
        token = self._token_from(request)
        failing = self._failing_reads.get(node_id)
        if failing is not None:
            return failing
        waba = self._wabas.get(node_id)
        if waba is None:
            raise _no_such_object(node_id)
        self._may_manage_waba(token, node_id)
        fields = _fields(request.query_params.get("fields", "id,display_phone_number"))
        data = []
        for phone in waba[0].phones:
            known = {
                "id": phone.id,
                "display_phone_number": phone.display,
                "verified_name": phone.verified_name,
                "quality_rating": "GREEN",
            }
            data.append({name: known[name] for name in fields if name in known})
        return Canned(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}})

    def _may_manage_page(self, token: str, page_id: str) -> None:
        with self._lock:
            info = self._tokens.get(token)
        if info is None:
            return  # a pasted test token (no user behind it): the Send API's rules apply
        if info.kind == "PAGE" and info.page_id == page_id:
            return
        if (
            info.kind == "USER"
            and info.user is not None
            and any(p.id == page_id for p in info.user.pages)
        ):
            return
        raise GraphRefusal(200, "(#200) Permissions error", status=403)

    def _may_manage_waba(self, token: str, waba_id: str) -> None:
        with self._lock:
            info = self._tokens.get(token)
        user = info.user if info is not None else None
        if (
            info is not None
            and info.kind == "USER"
            and user is not None
            and "whatsapp_business_management" in user.scopes
            and any(w.id == waba_id for w in user.whatsapp)
        ):
            return
        if info is None and token in self.graph.tokens:
            return  # a pasted test token
        raise GraphRefusal(200, "(#200) Permissions error", status=403)

    # -- webhook subscriptions ---------------------------------------------------------

    def _kind(self, token: str, node_id: str) -> Literal["page", "waba"]:
        if node_id in self._wabas:
            self._may_manage_waba(token, node_id)
            return "waba"
        self._may_manage_page(token, node_id)
        return "page"

    def subscribe(self, request: Request[Any, Any, Any], node_id: str, body: Any) -> Canned:
        token = self._token_from(request)
        kind = self._kind(token, node_id)
        with self._lock:
            failing = self._failing.get(node_id)
        if failing is not None:
            return failing
        if kind == "waba":
            with self._lock:
                self._subscriptions[node_id] = ()
            return Canned(200, {"success": True})
        raw = request.query_params.get("subscribed_fields")
        if raw is None and isinstance(body, dict):
            raw = body.get("subscribed_fields")
        if isinstance(raw, list):
            raw = ",".join(str(x) for x in raw)
        if not raw:
            raise GraphRefusal(100, "(#100) The parameter subscribed_fields is required.")
        fields = tuple(f.strip() for f in str(raw).split(",") if f.strip())
        unknown = [f for f in fields if f not in PAGE_WEBHOOK_FIELDS]
        if unknown:
            raise GraphRefusal(
                100,
                f"(#100) Param subscribed_fields[{fields.index(unknown[0])}] must be one of"
                f' {{{", ".join(sorted(PAGE_WEBHOOK_FIELDS))}}} - got "{unknown[0]}"',
            )
        with self._lock:
            self._subscriptions[node_id] = fields
        return Canned(200, {"success": True})

    def subscriptions(self, request: Request[Any, Any, Any], node_id: str) -> Canned:
        token = self._token_from(request)
        kind = self._kind(token, node_id)
        with self._lock:
            fields = self._subscriptions.get(node_id)
        if fields is None:
            return Canned(200, {"data": []})
        link = "https://clientora.example/"
        entry: dict[str, Any]
        if kind == "waba":
            entry = {
                "whatsapp_business_api_data": {
                    "id": self.app_id,
                    "link": link,
                    "name": self.app_name,
                }
            }
        else:
            entry = {
                "category": "Business",
                "link": link,
                "name": self.app_name,
                "id": self.app_id,
                "subscribed_fields": list(fields),
            }
        return Canned(200, {"data": [entry]})

    def unsubscribe(self, request: Request[Any, Any, Any], node_id: str) -> Canned:
        token = self._token_from(request)
        self._kind(token, node_id)
        with self._lock:
            self._subscriptions.pop(node_id, None)
        return Canned(200, {"success": True})


def _fields(raw: str) -> dict[str, list[str]]:
    """``id,name,instagram_business_account{id,username}`` -> {name: [sub-fields]}."""
    out: dict[str, list[str]] = {}
    depth, current, sub = 0, "", ""
    for ch in raw + ",":
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                continue
        if depth > 0:
            sub += ch
        elif ch == ",":
            if current.strip():
                out[current.strip()] = [s.strip() for s in sub.split(",") if s.strip()]
            current, sub = "", ""
        else:
            current += ch
    return out


def _instagram_fields(account: FakeInstagram, fields: list[str]) -> dict[str, Any]:
    known = {
        "id": account.id,
        "username": account.username,
        "name": account.name,
        "profile_picture_url": account.picture,
    }
    return {name: known[name] for name in fields if name in known and known[name] is not None}


def _no_such_object(node_id: str) -> GraphRefusal:
    return GraphRefusal(
        100,
        f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be loaded"
        " due to missing permissions, or does not support this operation.",
        subcode=33,
    )


# ---- routes ----------------------------------------------------------------------------------


def _answer(run: Any) -> Response[bytes]:
    try:
        canned: Canned = run()
    except GraphRefusal as refusal:
        canned = refusal.canned
    return canned.response()


def _meta(fake: FakeGraph) -> MetaAccounts:
    if fake.meta is None:
        raise GraphRefusal(100, "This fake Graph was made without an app (app_id=...).")
    return fake.meta


@get("/{version:str}/dialog/oauth", status_code=200)
async def dialog(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph]
) -> Response[Any]:
    """Meta's login dialog, as the browser sees it: a redirect back to the app."""
    meta = fake.meta
    if meta is None:
        return Response("no app", status_code=400, media_type="text/plain")
    return meta.dialog(dict(request.query_params))


@get("/{version:str}/oauth/access_token", status_code=200)
async def access_token(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).access_token(dict(request.query_params)))


@get("/{version:str}/debug_token", status_code=200)
async def debug_token(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).debug_token(request))


@get("/{version:str}/me/accounts", status_code=200)
async def me_accounts(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).accounts(request))


@get("/{version:str}/{node_id:str}", status_code=200)
async def node(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    if fake.meta is None:
        return _answer(lambda: fake.read(request, node_id))
    return _answer(lambda: _meta(fake).node(request, node_id))


@get("/{version:str}/{node_id:str}/phone_numbers", status_code=200)
async def phone_numbers(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).phone_numbers(request, node_id))


@get("/{version:str}/{node_id:str}/subscribed_apps", status_code=200)
async def read_subscriptions(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).subscriptions(request, node_id))


@post("/{version:str}/{node_id:str}/subscribed_apps", status_code=200)
async def add_subscription(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        return json_response(graph_error(100, "(#100) Invalid JSON in the request body"), 400)
    return _answer(lambda: _meta(fake).subscribe(request, node_id, body))


@delete("/{version:str}/{node_id:str}/subscribed_apps", status_code=200)
async def remove_subscription(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    return _answer(lambda: _meta(fake).unsubscribe(request, node_id))


account_routes = [
    dialog,
    access_token,
    debug_token,
    me_accounts,
    node,
    phone_numbers,
    read_subscriptions,
    add_subscription,
    remove_subscription,
]
