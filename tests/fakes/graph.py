"""A fake Meta Graph API (Messenger/Instagram and WhatsApp Send API) served over real HTTP.

Serve ``FakeGraph(...).app`` with ``tests.fakes.server.serve_app`` and point the client at
``f"{served.url}/v25.0"``. The fake checks requests the way Graph does (token, required
parameters, text limits) and answers with Graph-shaped errors; tests program failures
with ``fail_next`` / ``respond_next`` / ``fail_recipient`` and read ``requests``.

The request log and canned responses at the top are shared with the fake Viber API.
Given an ``app_id`` (and ``app_secret``, ``config_ids``) it also plays Meta's login and
account side: see tests/fakes/graph_accounts.py (``fake.meta``).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from litestar import Litestar, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from tests.fakes.asgi import Message, Receive, Scope, Send, read_body

if TYPE_CHECKING:
    from tests.fakes.graph_accounts import MetaAccounts

__all__ = [
    "GRAPH_VERSION",
    "AsgiApp",
    "Canned",
    "CannedResponses",
    "FakeGraph",
    "Recorded",
    "RequestLog",
    "graph_error",
    "json_response",
]

GRAPH_VERSION: Final = "v25.0"
MESSENGER_TEXT_LIMIT: Final = 2000
INSTAGRAM_TEXT_LIMIT: Final = 1000
WHATSAPP_TEXT_LIMIT: Final = 4096

AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---- shared: request log and canned responses --------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the fake received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any  # the parsed body, None when it was not JSON


class RequestLog:
    """Every request an ASGI app receives, kept in arrival order; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Recorded] = []

    def items(self) -> list[Recorded]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def wrap(self, app: Any) -> AsgiApp:
        """An ASGI app that records each HTTP request, then hands it to ``app`` unchanged.

        ``app`` is typed ``Any``: each framework spells the ASGI callable's types its own way.
        """

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            body = await read_body(receive)
            self._append(scope, body)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return recording

    def _append(self, scope: Scope, body: bytes) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = Recorded(scope["method"], scope["path"], query, headers, body, parsed)
        with self._lock:
            self._items.append(record)


@dataclass(frozen=True, slots=True)
class Canned:
    """A programmed answer: ``body`` is JSON-encoded unless it is already bytes."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> Response[bytes]:
        return json_response(self.body, self.status, self.headers)


class CannedResponses:
    """Answers queued for the next requests, and answers pinned to one recipient."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: deque[Canned] = deque()
        self._by_recipient: dict[str, Canned] = {}

    def queue(self, canned: Canned, times: int) -> None:
        with self._lock:
            self._next.extend([canned] * times)

    def pin(self, recipient: str, canned: Canned) -> None:
        with self._lock:
            self._by_recipient[recipient] = canned

    def take_next(self) -> Canned | None:
        with self._lock:
            return self._next.popleft() if self._next else None

    def for_recipient(self, recipient: str) -> Canned | None:
        with self._lock:
            return self._by_recipient.get(recipient)

    def clear(self) -> None:
        with self._lock:
            self._next.clear()
            self._by_recipient.clear()


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    # json.dumps keeps big integers exact (Viber message tokens exceed 2**53).
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(
        content=content,
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


# ---- Graph -----------------------------------------------------------------------------------


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    details: str | None = None,
) -> dict[str, Any]:
    """A Graph error object ``{"error": {...}}``; ``details`` adds WhatsApp's error_data."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    return {"error": error}


class GraphRefusal(Exception):
    """Raised inside the fake's handlers to answer with a Graph error."""

    def __init__(self, code: int, message: str, *, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.canned = Canned(status, graph_error(code, message, **extra))


class FakeGraph:
    """Graph API state: valid tokens, known nodes, programmed answers and the request log.

    ``tokens`` are accepted for every node, except a token in ``owners``, which reads only
    the nodes listed for it (another Page's, account's or number's reads get Graph's
    permissions error, as a token of another shop would). Nodes in ``instagram_ids`` get Instagram's
    1000-character limit; nodes in ``whatsapp_numbers`` (or any node sent a body with
    ``messaging_product``) are WhatsApp phone numbers; every other node is a Page.
    """

    def __init__(
        self,
        tokens: Iterable[str],
        *,
        instagram_ids: Iterable[str] = (),
        whatsapp_numbers: Iterable[str] = (),
        app_id: str | None = None,
        app_secret: str = "",
        config_ids: Iterable[str] = (),
        redirect_uris: Iterable[str] | None = None,
        owners: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.owners = {token: frozenset(nodes) for token, nodes in (owners or {}).items()}
        self.tokens = set(tokens) | set(self.owners)
        self.instagram_ids = set(instagram_ids)
        self.whatsapp_numbers = set(whatsapp_numbers)
        self.meta: MetaAccounts | None = None
        if app_id is not None:
            from tests.fakes.graph_accounts import MetaAccounts

            self.meta = MetaAccounts(
                self,
                app_id,
                app_secret,
                frozenset(config_ids),
                None if redirect_uris is None else frozenset(redirect_uris),
            )
        self.log = RequestLog()
        self.canned = CannedResponses()
        self._ids = itertools.count(1)
        self.app: AsgiApp = self.log.wrap(_build_app(self))

    @property
    def requests(self) -> list[Recorded]:
        return self.log.items()

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (default: code 2)."""
        if body is None:
            body = graph_error(
                2, "An unexpected error has occurred. Please retry your request later."
            )
        self.canned.queue(Canned(status, body, dict(headers or {})), times)

    def respond_next(
        self, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer the next request with exactly this body, whatever it asked."""
        self.canned.queue(Canned(status, body, dict(headers or {})), 1)

    def fail_recipient(
        self,
        recipient_id: str,
        body: Any,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every valid send to ``recipient_id`` with this error until ``reset``."""
        self.canned.pin(recipient_id, Canned(status, body, dict(headers or {})))

    def reset(self) -> None:
        """Forget requests and programmed answers (tokens and nodes stay)."""
        self.log.clear()
        self.canned.clear()

    # -- behaviour, called by the route handlers below --

    def check_token(self, request: Request[Any, Any, Any]) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        token = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
        token = token or request.query_params.get("access_token", "")
        if not token:
            raise GraphRefusal(104, "An access token is required to request this resource.")
        if token not in self.tokens:
            raise GraphRefusal(
                190, "Invalid OAuth access token - Cannot parse access token", status=401
            )
        return token

    def read(self, request: Request[Any, Any, Any], node_id: str, edge: str = "") -> Canned:
        """A read of a node (or an edge of it) by a pasted token: allowed unless the
        token belongs to other nodes (``owners``)."""
        token = self.check_token(request)
        owned = self.owners.get(token)
        if owned is not None and node_id not in owned:
            raise GraphRefusal(200, "(#200) Permissions error", status=403)
        return Canned(200, {"data": []} if edge else {"id": node_id})

    def send_message(self, node_id: str, body: Any) -> Canned:
        if not isinstance(body, dict):
            raise GraphRefusal(100, "(#100) The request body must be a JSON object")
        if node_id in self.whatsapp_numbers or (
            node_id not in self.instagram_ids and "messaging_product" in body
        ):
            return self._whatsapp_send(body)
        limit = INSTAGRAM_TEXT_LIMIT if node_id in self.instagram_ids else MESSENGER_TEXT_LIMIT
        return self._messenger_send(body, limit)

    def _messenger_send(self, body: dict[str, Any], limit: int) -> Canned:
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str):
            raise GraphRefusal(100, "(#100) The parameter recipient is required")
        kind = body.get("messaging_type")
        if kind is None:
            raise GraphRefusal(100, "(#100) The parameter messaging_type is required")
        if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise GraphRefusal(
                100,
                f"(#100) param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG"
                f" - got {kind!r}",
            )
        if kind == "MESSAGE_TAG" and body.get("tag") != "HUMAN_AGENT":
            raise GraphRefusal(100, f"(#100) Tag {body.get('tag')!r} is not supported")
        message = body.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text:
            raise GraphRefusal(100, "(#100) param message[text] must be a non-empty UTF-8 string")
        if len(text) > limit:
            raise GraphRefusal(
                100, f"(#100) Length of param message[text] must be less than or equal to {limit}"
            )
        reply_to = body.get("reply_to")
        if reply_to is not None and not (
            isinstance(reply_to, dict) and isinstance(reply_to.get("mid"), str)
        ):
            raise GraphRefusal(100, "(#100) param reply_to[mid] must be a message id")
        pinned = self.canned.for_recipient(recipient["id"])
        if pinned is not None:
            return pinned
        message_id = f"m_fake{next(self._ids):012d}{secrets.token_urlsafe(16)}"
        return Canned(200, {"recipient_id": recipient["id"], "message_id": message_id})

    def _whatsapp_send(self, body: dict[str, Any]) -> Canned:
        def refuse(message: str, details: str) -> GraphRefusal:
            return GraphRefusal(100, message, details=details)

        if body.get("messaging_product") != "whatsapp":
            raise refuse(
                "(#100) The parameter messaging_product is required.",
                "messaging_product must be 'whatsapp'",
            )
        to = body.get("to")
        if not isinstance(to, str) or not to:
            raise refuse("(#100) The parameter to is required.", "to is required")
        if body.get("recipient_type", "individual") != "individual":
            raise refuse("(#100) Invalid parameter", "recipient_type must be 'individual'")
        if body.get("type", "text") != "text":
            raise refuse("(#100) Invalid parameter", "this fake only sends text messages")
        text = body.get("text")
        text_body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(text_body, str) or not text_body:
            raise refuse("(#100) The parameter text['body'] is required.", "text.body is required")
        if len(text_body) > WHATSAPP_TEXT_LIMIT:
            raise refuse(
                "(#100) Invalid parameter",
                f"text.body must be at most {WHATSAPP_TEXT_LIMIT} characters long",
            )
        context = body.get("context")
        if context is not None and not (
            isinstance(context, dict) and isinstance(context.get("message_id"), str)
        ):
            raise refuse("(#100) Invalid parameter", "context.message_id must be a string")
        pinned = self.canned.for_recipient(to)
        if pinned is not None:
            return pinned
        wamid = f"wamid.FAKE{next(self._ids):08d}{secrets.token_urlsafe(24)}"
        wa_id = "".join(ch for ch in to if ch.isdigit())
        return Canned(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": wamid}],
            },
        )


# ---- routes ----------------------------------------------------------------------------------


@post("/{version:str}/{node_id:str}/messages", status_code=200)
async def messages(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    """Messenger/Instagram and WhatsApp Send API."""
    try:
        fake.check_token(request)
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            raise GraphRefusal(100, "(#100) Invalid JSON in the request body") from None
        canned = fake.send_message(node_id, body)
    except GraphRefusal as refusal:
        canned = refusal.canned
    return canned.response()


@get("/{version:str}/{node_id:str}/conversations", status_code=200)
async def conversations(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeGraph], node_id: FromPath[str]
) -> Response[bytes]:
    """A Page's conversations: only that Page's own token (or its manager's) may read."""
    try:
        if fake.meta is not None and fake.meta.knows(node_id):
            canned = fake.meta.node(request, node_id, edge="conversations")
        else:
            canned = fake.read(request, node_id, "conversations")
    except GraphRefusal as refusal:
        canned = refusal.canned
    return canned.response()


def _build_app(fake: FakeGraph) -> Litestar:
    async def answer_canned(_: Request[Any, Any, Any]) -> Response[bytes] | None:
        canned = fake.canned.take_next()
        return canned.response() if canned is not None else None

    from tests.fakes.graph_accounts import account_routes

    return Litestar(
        route_handlers=[messages, conversations, *account_routes],
        dependencies={"fake": Provide(lambda: fake, use_cache=True, sync_to_thread=False)},
        before_request=answer_canned,
        openapi_config=None,
    )
