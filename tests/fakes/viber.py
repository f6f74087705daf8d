"""A fake Viber REST Bot API (send_message, set_webhook, get_account_info) over real HTTP.

Serve ``FakeViber(...).app`` with ``tests.fakes.server.serve_app`` and point the client at
``f"{served.url}/pa"``. Like Viber it answers HTTP 200 with a ``status`` number, checks
``X-Viber-Auth-Token`` and the message fields, and ``set_webhook`` really POSTs a signed
``event: webhook`` callback to the URL and succeeds only when that answers 200.
``deliver`` posts any other callback (message, subscribed, ...) the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from litestar import Litestar, Request, Response, post
from litestar.di import NamedDependency, Provide

from tests.fakes.graph import (
    AsgiApp,
    Canned,
    CannedResponses,
    Recorded,
    RequestLog,
    json_response,
)

__all__ = ["CallbackAttempt", "FakeViber", "WebhookTarget", "sign"]

SENDER_NAME_LIMIT: Final = 28
TEXT_LIMIT: Final = 7000
MAX_REQUEST_BYTES: Final = 30_000
EVENT_TYPES: Final = frozenset(
    {"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}
)
CHAT_HOSTNAME: Final = "SN-CHAT-05_"
#: First message token: above 2**53, so a float on the way would change it.
FIRST_MESSAGE_TOKEN: Final = 5_058_590_812_907_389_765


def sign(body: bytes, auth_token: str) -> str:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the raw body keyed with the token."""
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One callback the fake POSTed: ``status`` None when the URL could not be reached."""

    url: str
    body: bytes
    signature: str
    status: int | None


class ViberRefusal(Exception):
    def __init__(self, status: int, status_message: str) -> None:
        super().__init__(status_message)
        self.body = {"status": status, "status_message": status_message}


class FakeViber:
    """Viber bot API state: one bot per token, webhooks, programmed answers, request log.

    ``subscribers``: user ids that may receive messages (None: everyone).
    ``require_webhook``: refuse sends (status 10) until the bot's webhook is set.
    """

    def __init__(
        self,
        tokens: Iterable[str],
        *,
        subscribers: Iterable[str] | None = None,
        require_webhook: bool = False,
        callback_timeout_s: float = 5.0,
    ) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        for n, token in enumerate(tokens, start=1):
            self.accounts[token] = {
                "id": f"pa:{5_000_000_000_000_000_000 + n}",
                "name": f"Fake Shop {n}",
                "uri": f"fakeshop{n}",
                "icon": f"https://media.example.com/fakeshop{n}.jpg",
                "background": f"https://media.example.com/fakeshop{n}-bg.jpg",
                "category": "Shopping",
                "subcategory": "Shop",
                "location": {"lon": 0.1, "lat": 51.5},
                "country": "GB",
                "subscribers_count": 0,
                "members": [],
            }
        self.subscribers = None if subscribers is None else set(subscribers)
        self.require_webhook = require_webhook
        self.callback_timeout_s = callback_timeout_s
        self.log = RequestLog()
        self.canned = CannedResponses()
        self._lock = threading.Lock()
        self._webhooks: dict[str, tuple[str, list[str]]] = {}
        self._callbacks: list[CallbackAttempt] = []
        self._tokens = itertools.count(FIRST_MESSAGE_TOKEN)
        self.app: AsgiApp = self.log.wrap(_build_app(self))

    @property
    def requests(self) -> list[Recorded]:
        return self.log.items()

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        with self._lock:
            return list(self._callbacks)

    def webhook(self, auth_token: str) -> str | None:
        with self._lock:
            entry = self._webhooks.get(auth_token)
        return entry[0] if entry else None

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        body: Any = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests with this HTTP status and body."""
        self.canned.queue(Canned(status, body, dict(headers or {})), times)

    def respond_next(self, body: Any, *, status: int = 200) -> None:
        """Answer the next request with exactly this body, whatever it asked."""
        self.canned.queue(Canned(status, body), 1)

    def fail_receiver(self, receiver: str, body: Mapping[str, Any]) -> None:
        """Answer every valid send to ``receiver`` with this Viber body until ``reset``."""
        self.canned.pin(receiver, Canned(200, dict(body)))

    def revoke(self, auth_token: str) -> None:
        """The bot's token stops working (a new one was generated): Viber answers status 2."""
        with self._lock:
            self.accounts.pop(auth_token, None)
            self._webhooks.pop(auth_token, None)

    def drop_webhook(self, auth_token: str) -> None:
        """As if the bot's webhook were removed or pointed elsewhere outside Clientora."""
        with self._lock:
            self._webhooks.pop(auth_token, None)

    def reset(self) -> None:
        """Forget requests, callbacks, webhooks and programmed answers; restart message tokens."""
        self.log.clear()
        self.canned.clear()
        with self._lock:
            self._webhooks.clear()
            self._callbacks.clear()
            self._tokens = itertools.count(FIRST_MESSAGE_TOKEN)

    async def deliver(self, auth_token: str, payload: Mapping[str, Any]) -> httpx.Response:
        """POST a signed callback for the bot ``auth_token`` to its webhook, as Viber does."""
        url = self.webhook(auth_token)
        if url is None:
            raise RuntimeError("no webhook is set for this bot")
        body = json.dumps(payload, separators=(",", ":")).encode()
        async with httpx.AsyncClient(timeout=self.callback_timeout_s) as http:
            return await http.post(url, content=body, headers=_callback_headers(body, auth_token))

    # -- behaviour, called by the route handlers below --

    def check_token(self, request: Request[Any, Any, Any], body: Any) -> str:
        token = request.headers.get("x-viber-auth-token")
        if token is None and isinstance(body, dict):
            token = body.get("auth_token")  # the official Python library's placement
        if not token:
            raise ViberRefusal(2, "missing_auth_token")
        if token not in self.accounts:
            raise ViberRefusal(2, "invalidAuthToken")
        return str(token)

    def send_message(self, token: str, body: dict[str, Any], size: int) -> Canned:
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            raise ViberRefusal(4, "missingData: receiver")
        sender = body.get("sender")
        name = sender.get("name") if isinstance(sender, dict) else None
        if not isinstance(name, str) or not name:
            raise ViberRefusal(3, "badData: sender.name is required")
        if len(name) > SENDER_NAME_LIMIT:
            raise ViberRefusal(3, f"badData: sender.name longer than {SENDER_NAME_LIMIT}")
        if not isinstance(body.get("min_api_version", 1), int):
            raise ViberRefusal(3, "badData: min_api_version")
        kind = body.get("type")
        if kind is None:
            raise ViberRefusal(4, "missingData: type")
        if kind != "text":
            raise ViberRefusal(3, "badData: this fake only sends text")
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ViberRefusal(3, "badData: text is required")
        if len(text) > TEXT_LIMIT or size > MAX_REQUEST_BYTES:
            raise ViberRefusal(3, "badData: message too long")
        if self.require_webhook and self.webhook(token) is None:
            raise ViberRefusal(10, "webhookNotSet")
        if self.subscribers is not None and receiver not in self.subscribers:
            raise ViberRefusal(6, "notSubscribed")
        pinned = self.canned.for_recipient(receiver)
        if pinned is not None:
            return pinned
        return Canned(
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": next(self._tokens),
                "chat_hostname": CHAT_HOSTNAME,
            },
        )

    async def set_webhook(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            raise ViberRefusal(4, "missingData: url")
        event_types = body.get("event_types", sorted(EVENT_TYPES))
        if not isinstance(event_types, list) or not set(event_types) <= EVENT_TYPES:
            raise ViberRefusal(3, "badData: event_types")
        if url == "":
            with self._lock:
                self._webhooks.pop(token, None)
            return {"status": 0, "status_message": "ok"}
        if not url.startswith(("https://", "http://")):
            raise ViberRefusal(1, "invalidUrl")
        payload = {
            "event": "webhook",
            "timestamp": int(time.time() * 1000),
            "chat_hostname": CHAT_HOSTNAME,
            "message_token": next(self._tokens),
        }
        status = await self._post_callback(url, token, payload)
        if status != 200:
            raise ViberRefusal(1, f"Failed to connect to the webhook: HTTP {status}")
        with self._lock:
            self._webhooks[token] = (url, list(event_types))
        return {
            "status": 0,
            "status_message": "ok",
            "chat_hostname": CHAT_HOSTNAME,
            "event_types": list(event_types),
        }

    def account_info(self, token: str) -> dict[str, Any]:
        with self._lock:
            url, event_types = self._webhooks.get(token, ("", []))
        return {"status": 0, "status_message": "ok", **self.accounts[token]} | {
            "webhook": url,
            "event_types": event_types,
        }

    async def _post_callback(self, url: str, token: str, payload: Mapping[str, Any]) -> int | None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = _callback_headers(body, token)
        try:
            async with httpx.AsyncClient(timeout=self.callback_timeout_s) as http:
                status: int | None = (
                    await http.post(url, content=body, headers=headers)
                ).status_code
        except httpx.HTTPError:
            status = None
        with self._lock:
            self._callbacks.append(
                CallbackAttempt(url, body, headers["X-Viber-Content-Signature"], status)
            )
        return status


def _callback_headers(body: bytes, auth_token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Viber-Content-Signature": sign(body, auth_token),
    }


class WebhookTarget:
    """A stand-in webhook endpoint: records every request and answers ``status``, empty body."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.log = RequestLog()
        self.app: AsgiApp = self.log.wrap(self._answer)

    @property
    def requests(self) -> list[Recorded]:
        return self.log.items()

    async def _answer(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


# ---- routes ----------------------------------------------------------------------------------


async def _parse(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeViber]
) -> tuple[str, Any, int]:
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else {}
    except ValueError:
        body = None
    token = fake.check_token(request, body)
    if not isinstance(body, dict):
        raise ViberRefusal(3, "badData: the body must be a JSON object")
    return token, body, len(raw)


@post("/pa/send_message", status_code=200)
async def send_message(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeViber]
) -> Response[bytes]:
    try:
        token, body, size = await _parse(request, fake)
        return fake.send_message(token, body, size).response()
    except ViberRefusal as refusal:
        return json_response(refusal.body)


@post("/pa/set_webhook", status_code=200)
async def set_webhook(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeViber]
) -> Response[bytes]:
    try:
        token, body, _ = await _parse(request, fake)
        return json_response(await fake.set_webhook(token, body))
    except ViberRefusal as refusal:
        return json_response(refusal.body)


@post("/pa/get_account_info", status_code=200)
async def get_account_info(
    request: Request[Any, Any, Any], fake: NamedDependency[FakeViber]
) -> Response[bytes]:
    try:
        token, _, _ = await _parse(request, fake)
        return json_response(fake.account_info(token))
    except ViberRefusal as refusal:
        return json_response(refusal.body)


def _build_app(fake: FakeViber) -> Litestar:
    async def answer_canned(_: Request[Any, Any, Any]) -> Response[bytes] | None:
        canned = fake.canned.take_next()
        return canned.response() if canned is not None else None

    return Litestar(
        route_handlers=[send_message, set_webhook, get_account_info],
        dependencies={"fake": Provide(lambda: fake, use_cache=True, sync_to_thread=False)},
        before_request=answer_canned,
        openapi_config=None,
    )
