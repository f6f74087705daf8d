"""The wire protocol between the desktop and the relay (version 1).

Stream frames travel over the ``/v1/stream`` WebSocket as JSON text frames tagged by
``type``; the HTTP API's request and response bodies are the structs further down.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from common.channels import ChannelStatus, Platform
from common.events import Event

__all__ = [
    "CLIENT_FRAME_DECODER",
    "MIN_PASSWORD_LENGTH",
    "PROTOCOL_VERSION",
    "SERVER_FRAME_DECODER",
    "AccountDeletion",
    "Ack",
    "ApiError",
    "ChannelInfo",
    "ClientFrame",
    "CloseCode",
    "ConnectChannel",
    "DeviceInfo",
    "ErrorBody",
    "EventFrame",
    "Hello",
    "Login",
    "PasswordChange",
    "Ping",
    "Pong",
    "RegisterDevice",
    "SendErrorCode",
    "SendReply",
    "SendResult",
    "Seq",
    "ServerFrame",
    "Session",
    "SignUp",
    "VisitorMessage",
    "Welcome",
    "decode_client_frame",
    "encode",
]

PROTOCOL_VERSION: Final = 1

#: A sequence number or cursor: both stores keep them as signed 64-bit integers, so a
#: larger one is refused when decoded rather than failing in the database.
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: An echoed number (a ping's nonce), bounded the same way.
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class CloseCode:
    """WebSocket close codes the relay uses (4000-4999 are for applications)."""

    UNAUTHORIZED: Final = 4401
    FORBIDDEN: Final = 4403
    BAD_FRAME: Final = 4400
    HEARTBEAT_TIMEOUT: Final = 4408
    SESSION_REVOKED: Final = 4409
    GOING_AWAY: Final = 1001


# ---- stream frames: desktop -> relay --------------------------------------------------


class Hello(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hello"):
    """First frame: which device this is and the last sequence number it holds."""

    device_id: str
    cursor: Seq = 0
    protocol: Int64 = PROTOCOL_VERSION


class Ack(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="ack"):
    """Cumulative: the device has stored every event up to and including ``seq``."""

    seq: Seq


class Ping(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="ping"):
    nonce: Int64 = 0


class Pong(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="pong"):
    nonce: Int64 = 0


ClientFrame = Hello | Ack | Ping | Pong

# ---- stream frames: relay -> desktop --------------------------------------------------


class Welcome(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="welcome"):
    """Answer to Hello: the business's newest sequence number at connect time."""

    business_id: str
    device_id: str
    head: int
    protocol: int = PROTOCOL_VERSION


class EventFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="event"):
    """One stored event. ``id`` is stable across redeliveries: dedupe on it."""

    seq: int
    id: str
    stored_at_ms: int
    event: Event


ServerFrame = Welcome | EventFrame | Ping | Pong

CLIENT_FRAME_DECODER: Final = msgspec.json.Decoder(ClientFrame)
SERVER_FRAME_DECODER: Final = msgspec.json.Decoder(ServerFrame)


def decode_client_frame(raw: str | bytes) -> ClientFrame:
    """A desktop's frame; anything unreadable, nesting past the interpreter's recursion
    limit included, is a :class:`msgspec.DecodeError`."""
    try:
        return CLIENT_FRAME_DECODER.decode(raw)
    except RecursionError:
        raise msgspec.DecodeError("frame nested too deeply") from None


_ENCODER: Final = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    return _ENCODER.encode(value)


# ---- HTTP API ---------------------------------------------------------------------------


#: Shortest password the relay accepts (the app checks it before asking).
MIN_PASSWORD_LENGTH: Final = 10


class SignUp(msgspec.Struct, frozen=True, kw_only=True):
    business_name: str
    name: str
    email: str
    password: str


class Login(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    password: str


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A session token: shown once, stored hashed at the relay."""

    token: str
    expires_at_ms: int
    business_id: str
    user_id: str


class PasswordChange(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/password``: the relay then ends every other session of this user."""

    current_password: str
    new_password: str


class AccountDeletion(msgspec.Struct, frozen=True, kw_only=True):
    """``DELETE /v1/account``: the password again, to erase the whole business."""

    password: str


class RegisterDevice(msgspec.Struct, frozen=True, kw_only=True):
    name: str


class DeviceInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    cursor: int
    created_at_ms: int


class ConnectChannel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Credentials for a new channel; which fields are needed depends on ``platform``.

    messenger: page_id + access_token; instagram: account_id + access_token;
    whatsapp: phone_number_id + business_account_id + access_token; viber: auth_token.
    """

    platform: Platform
    name: str | None = None
    page_id: str | None = None
    account_id: str | None = None
    phone_number_id: str | None = None
    business_account_id: str | None = None
    access_token: str | None = None
    auth_token: str | None = None


class ChannelInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A channel as any response shows it: never with a credential."""

    id: str
    platform: Platform
    external_id: str
    name: str | None
    status: ChannelStatus
    created_at_ms: int
    webhook_url: str | None = None
    #: The account's picture (a Viber bot's avatar, an Instagram profile picture), if known.
    avatar_url: str | None = None


SendErrorCode = Literal[
    "window_closed",
    "token_invalid",
    "recipient_unavailable",
    "too_long",
    "rate_limited",
    "quota_exceeded",
    "already_replied",
    "unknown_channel",
    "unknown_recipient",
    "bad_request",
    "platform_error",
    "idempotency_conflict",
    #: The relay lost track of the send (a crash or hang past its lease): it may or may
    #: not have reached the customer. Shown to the owner, never retried on its own.
    "outcome_unknown",
]


class SendReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Ask the relay to send a text reply.

    ``automatic``: the assistant sent it with no person approving; such a reply is
    never sent with a message tag, and at most one goes out per ``in_reply_to``.
    """

    channel_id: str
    recipient_id: str
    text: str
    idempotency_key: str
    automatic: bool = False
    reply_to: str | None = None
    in_reply_to: str | None = None
    device_id: str | None = None


class SendResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The relay's answer to :class:`SendReply`; the ``MessageSent`` event it also appends
    carries the same ``send_id`` and the request's ``idempotency_key``."""

    send_id: str
    platform_message_id: str | None
    seq: int
    tag: str | None = None


class ApiError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    retry_after_s: float | None = None
    limit: float | None = None
    resets_on: str | None = None


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error response of the relay's API: ``{"error": {...}}``."""

    error: ApiError


class VisitorMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /webchat/{channel_id}/messages``: a web-chat visitor writes (the widget, or
    the app's test chat)."""

    visitor_id: str
    text: str
    name: str | None = None
    #: The page's own id for the message, so a resend after a network error is dropped.
    message_id: str | None = None
