"""The relay's HTTP API and event stream, for the desktop (httpx + websockets, asyncio).

Every failure is one of three typed errors: :class:`RelayUnreachable` (no answer from the
relay: refused, timed out, a gateway's 5xx), :class:`SignInRequired` (the session token
is missing, expired or revoked) and :class:`RelayRefused` (the relay answered with an
``{"error": {...}}`` body: ``code`` and a plain-words ``message``). :class:`StreamClosed`
says how a stream ended. ``base_url`` may change at any time (a relay moved or restarted
on another port); the next request and the next stream use the new one.
"""

from __future__ import annotations

import contextlib
import logging
import random
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlencode

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from common.away import AwayChannel, AwayMessages, AwaySettings
from common.erasure import ErasureConfirmation, ErasureResult
from common.health import ChannelHealth, HealthCheck
from common.onboarding import (
    ConnectMetaAssets,
    MetaAsset,
    MetaLoginStarted,
    MetaLoginState,
    StartMetaLogin,
)
from common.protocol import (
    SERVER_FRAME_DECODER,
    Ack,
    ApiError,
    ChannelInfo,
    CloseCode,
    ConnectChannel,
    DeviceInfo,
    ErrorBody,
    Hello,
    Login,
    PasswordChange,
    Ping,
    Pong,
    RegisterDevice,
    SendReply,
    SendResult,
    ServerFrame,
    Session,
    SignUp,
    VisitorMessage,
    Welcome,
    encode,
)
from common.usage import UsageGroup, UsageReport

# The wire types are defined once, in common/; these three are re-exported for the UI.
__all__ = [
    "Backoff",
    "ChannelHealth",
    "HealthCheck",
    "MetaAsset",
    "RelayClient",
    "RelayError",
    "RelayRefused",
    "RelayUnreachable",
    "SignInRequired",
    "StreamClosed",
    "StreamConnection",
    "UnreadableEvent",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

USER_AGENT: Final = "Clientora-Desktop/0.1"
#: Largest stream frame accepted; an event is a webhook item, well under this.
MAX_FRAME_BYTES: Final = 4 * 1024 * 1024


class RelayError(Exception):
    """A request to the relay did not succeed; ``message`` is fit to show the owner."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class RelayUnreachable(RelayError):
    """No answer from the relay itself: try again later."""


class RelayRefused(RelayError):
    """The relay answered with a typed error (see ``common.protocol.SendErrorCode``)."""


class SignInRequired(RelayRefused):
    """The session is missing, expired or was signed out: the owner must sign in again."""


class StreamClosed(Exception):
    """The event stream ended; ``code`` is a WebSocket close code (None: no close frame)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(
            f"stream closed ({code}): {reason}" if reason else f"stream closed ({code})"
        )
        self.code = code
        self.reason = reason

    @property
    def sign_in_required(self) -> bool:
        return self.code in (CloseCode.UNAUTHORIZED, CloseCode.SESSION_REVOKED)

    @property
    def device_unknown(self) -> bool:
        return self.code == CloseCode.FORBIDDEN


class Backoff:
    """Jittered exponential delays: ``initial_s``, doubling, capped at ``cap_s``.

    Each delay is drawn from the upper half of its step ("equal jitter"), so many
    desktops that lost the relay together do not come back in step, and none retries
    sooner than half the step.
    """

    def __init__(
        self,
        *,
        initial_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    def next_delay(self) -> float:
        step = min(self.cap_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        self.attempts = 0


def _ws_url(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/v1/stream"
    return "ws://" + base_url.removeprefix("http://") + "/v1/stream"


def _retry_after(response: httpx.Response, error: ApiError | None) -> float | None:
    if error is not None and error.retry_after_s is not None:
        return error.retry_after_s
    header = response.headers.get("retry-after")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _error(response: httpx.Response) -> RelayError:
    status = response.status_code
    try:
        error: ApiError | None = msgspec.json.decode(response.content, type=ErrorBody).error
    except msgspec.DecodeError:
        error = None
    retry_after = _retry_after(response, error)
    if error is None:
        if status >= 500:
            # A proxy or load balancer answered for the relay.
            return RelayUnreachable(
                "relay_unavailable",
                f"The relay is not answering right now (HTTP {status}).",
                status=status,
                retry_after_s=retry_after,
            )
        error = ApiError(
            code=f"http_{status}", message=f"The relay refused the request ({status})."
        )
    cls = SignInRequired if status == 401 else RelayRefused
    return cls(error.code, error.message, status=status, retry_after_s=retry_after)


class UnreadableEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event frame whose event this version cannot read (its seq and id still count)."""

    seq: int
    id: str
    error: str


class _FrameHead(msgspec.Struct, frozen=True):
    type: str | None = None
    seq: int | None = None
    id: str | None = None


class StreamConnection:
    """One open ``/v1/stream`` socket after the Hello/Welcome exchange."""

    def __init__(self, socket: ClientConnection, welcome: Welcome) -> None:
        self.socket = socket
        self.welcome = welcome

    async def recv(self) -> ServerFrame | UnreadableEvent:
        """The next frame; raises :class:`StreamClosed` when the stream ends.

        An event this version cannot decode (a newer relay's event kind) comes back as
        :class:`UnreadableEvent`; any other unreadable frame is logged and skipped.
        """
        while True:
            try:
                raw = await self.socket.recv()
            except ConnectionClosed as exc:
                raise _closed(exc) from None
            try:
                frame: ServerFrame = SERVER_FRAME_DECODER.decode(raw)
            except msgspec.DecodeError as exc:
                try:
                    head = msgspec.json.decode(raw, type=_FrameHead)
                except msgspec.DecodeError:
                    head = _FrameHead()
                if head.type == "event" and head.seq is not None and head.id is not None:
                    return UnreadableEvent(seq=head.seq, id=head.id, error=str(exc))
                log.warning("unreadable stream frame skipped: %s", exc)
                continue
            return frame

    async def send(self, frame: Ack | Ping | Pong) -> None:
        try:
            await self.socket.send(encode(frame).decode())
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self) -> None:
        await self.socket.close()


def _closed(exc: ConnectionClosed) -> StreamClosed:
    if exc.rcvd is not None:
        return StreamClosed(exc.rcvd.code, exc.rcvd.reason)
    return StreamClosed(None, "the connection dropped")


class RelayClient:
    """The relay's API for one desktop: accounts, devices, channels, sending, the stream."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.connect_timeout_s = connect_timeout_s
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value.rstrip("/")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- HTTP ------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        if not self.token:
            raise SignInRequired("unauthorized", "Sign in first.", status=None)
        return {"Authorization": f"Bearer {self.token}"}

    async def _request(
        self, method: str, path: str, body: object | None = None, *, auth: bool = True
    ) -> httpx.Response:
        headers = self._auth() if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                content=encode(body) if body is not None else None,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise RelayUnreachable(
                "timeout", "The relay did not answer in time.", status=None
            ) from None
        except httpx.TransportError as exc:
            raise RelayUnreachable(
                "unreachable", f"The relay cannot be reached ({type(exc).__name__}).", status=None
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    async def _call(
        self,
        method: str,
        path: str,
        type_: type[T],
        body: object | None = None,
        *,
        auth: bool = True,
    ) -> T:
        response = await self._request(method, path, body, auth=auth)
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.DecodeError:
            raise RelayUnreachable(
                "bad_response", "The relay's answer could not be read.", status=response.status_code
            ) from None

    async def signup(self, data: SignUp) -> Session:
        """Create a business and its first user; the new session becomes this client's."""
        session = await self._call("POST", "/v1/signup", Session, data, auth=False)
        self.token = session.token
        return session

    async def login(self, email: str, password: str) -> Session:
        """Sign in; the new session becomes this client's."""
        session = await self._call(
            "POST", "/v1/login", Session, Login(email=email, password=password), auth=False
        )
        self.token = session.token
        return session

    async def logout(self) -> None:
        """End the session at the relay (an already-ended one is fine) and forget it."""
        with contextlib.suppress(SignInRequired):
            await self._request("POST", "/v1/logout")
        self.token = None

    async def change_password(self, current: str, new: str) -> None:
        """Change the password; the relay ends every other session of this user."""
        await self._request(
            "POST", "/v1/password", PasswordChange(current_password=current, new_password=new)
        )

    async def register_device(self, name: str) -> DeviceInfo:
        return await self._call("POST", "/v1/devices", DeviceInfo, RegisterDevice(name=name))

    async def devices(self) -> list[DeviceInfo]:
        return await self._call("GET", "/v1/devices", list[DeviceInfo])

    async def channels(self) -> list[ChannelInfo]:
        return await self._call("GET", "/v1/channels", list[ChannelInfo])

    async def connect_channel(self, data: ConnectChannel) -> ChannelInfo:
        """Connect a channel from credentials (a Viber bot token; Meta goes by browser)."""
        return await self._call("POST", "/v1/channels", ChannelInfo, data)

    async def away(self) -> AwaySettings:
        return await self._call("GET", "/v1/away", AwaySettings)

    async def set_away_messages(self, messages: AwayMessages) -> None:
        await self._request("PUT", "/v1/away/messages", messages)

    async def set_away_channel(self, channel_id: str, switch: AwayChannel) -> None:
        await self._request("PUT", f"/v1/away/channels/{quote(channel_id, safe='')}", switch)

    async def disconnect_channel(self, channel_id: str) -> None:
        await self._request("DELETE", f"/v1/channels/{quote(channel_id, safe='')}")

    async def usage(
        self,
        first: str | None = None,
        last: str | None = None,
        group: UsageGroup = "day",
    ) -> UsageReport:
        """Usage counters between two days (``YYYY-MM-DD``; default: this month)."""
        params: dict[str, str] = {"group": group}
        if first is not None:
            params["first"] = first
        if last is not None:
            params["last"] = last
        return await self._call("GET", "/v1/usage?" + urlencode(params), UsageReport)

    async def webchat_say(
        self, channel_id: str, visitor_id: str, text: str, name: str | None = None
    ) -> None:
        """Write into a web-chat channel as a site visitor would (the app's test chat)."""
        body = VisitorMessage(visitor_id=visitor_id, text=text, name=name)
        await self._request(
            "POST", f"/webchat/{quote(channel_id, safe='')}/messages", body, auth=False
        )

    async def confirm_erasure(
        self, request_id: str, device_id: str, counts: dict[str, int]
    ) -> None:
        """Tell the relay what this device erased, for the customer's deletion receipt."""
        await self._request(
            "POST",
            f"/v1/erasures/{quote(request_id, safe='')}/confirm",
            ErasureConfirmation(device_id=device_id, counts=counts),
        )

    async def erase_customer(self, channel_id: str, customer_id: str) -> ErasureResult:
        """Erase a customer at the relay; every device then erases it from the stream."""
        path = f"/v1/channels/{quote(channel_id, safe='')}/customers/{quote(customer_id, safe='')}"
        return await self._call("DELETE", path, ErasureResult)

    async def erasure_receipt(self, request_id: str) -> dict[str, Any]:
        """The signed deletion receipt as it stands (devices confirm over time)."""
        response = await self._request("GET", f"/v1/erasures/{quote(request_id, safe='')}")
        receipt = msgspec.json.decode(response.content)
        if not isinstance(receipt, dict):
            raise RelayUnreachable("bad_response", "The receipt could not be read.", status=None)
        return receipt

    async def send_reply(self, reply: SendReply) -> SendResult:
        """Ask the relay to send; a repeated ``idempotency_key`` gets the first answer."""
        return await self._call("POST", "/v1/messages", SendResult, reply)

    # ---- channel onboarding and health ---------------------------------------------

    async def start_meta_login(self, device_id: str) -> MetaLoginStarted:
        """A single-use Connect with Facebook link for this device."""
        return await self._call(
            "POST", "/v1/onboarding/meta", MetaLoginStarted, StartMetaLogin(device_id=device_id)
        )

    async def meta_login(self, login_id: str) -> MetaLoginState:
        return await self._call(
            "GET", f"/v1/onboarding/meta/{quote(login_id, safe='')}", MetaLoginState
        )

    async def connect_meta_assets(self, login_id: str, picks: list[str]) -> list[ChannelInfo]:
        """Connect the picked assets (``MetaAsset.id``): all of them, or none."""
        return await self._call(
            "POST",
            f"/v1/onboarding/meta/{quote(login_id, safe='')}/connect",
            list[ChannelInfo],
            ConnectMetaAssets(picks=picks),
        )

    async def channel_health(self, channel_id: str) -> ChannelHealth:
        return await self._call(
            "GET", f"/v1/channels/{quote(channel_id, safe='')}/health", ChannelHealth
        )

    async def check_channel(self, channel_id: str) -> ChannelHealth:
        """Ask the relay to check the channel with its platform now."""
        return await self._call(
            "POST", f"/v1/channels/{quote(channel_id, safe='')}/check", ChannelHealth
        )

    async def resubscribe(self, channel_id: str) -> ChannelHealth:
        return await self._call(
            "POST", f"/v1/channels/{quote(channel_id, safe='')}/resubscribe", ChannelHealth
        )

    # ---- the stream ----------------------------------------------------------------

    async def open_stream(self, device_id: str, cursor: int) -> StreamConnection:
        """Connect, say Hello with ``cursor``, and wait for the Welcome.

        Raises :class:`RelayUnreachable`, :class:`SignInRequired` (no token, or a 401
        answer to the upgrade) or :class:`StreamClosed` (the relay closed at once, e.g.
        4401 for an ended session or 4403 for an unknown device).
        """
        headers = self._auth()
        try:
            socket = await connect(
                _ws_url(self._base_url),
                additional_headers=headers,
                user_agent_header=USER_AGENT,
                # Small JSON frames on a LAN or broadband link: deflate costs more CPU
                # than it saves (it halved throughput in the relay's measurements).
                compression=None,
                # Heartbeats are the protocol's own Ping/Pong frames (see sync.py).
                ping_interval=None,
                open_timeout=self.connect_timeout_s,
                close_timeout=2,
                max_size=MAX_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise SignInRequired("unauthorized", "Sign in again.", status=status) from None
            raise RelayUnreachable(
                "stream_refused", f"The relay refused the stream (HTTP {status}).", status=status
            ) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise RelayUnreachable(
                "unreachable", f"The relay cannot be reached ({type(exc).__name__}).", status=None
            ) from None
        stream = StreamConnection(socket, Welcome(business_id="", device_id=device_id, head=0))
        try:
            await socket.send(encode(Hello(device_id=device_id, cursor=cursor)).decode())
            first = await stream.recv()
        except ConnectionClosed as exc:
            await socket.close()
            raise _closed(exc) from None
        except BaseException:
            await socket.close()
            raise
        if not isinstance(first, Welcome):
            await socket.close()
            raise StreamClosed(None, f"expected a welcome frame, got {type(first).__name__}")
        stream.welcome = first
        return stream
