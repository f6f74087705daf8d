"""What every webhook normaliser shares: the result type, the error, and loose-JSON readers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias, TypedDict

import msgspec

from common.channels import Platform
from common.events import Customer, Event, Unsupported

__all__ = [
    "EMPTY",
    "AccountResolver",
    "ChannelResolver",
    "Head",
    "Ignored",
    "ParseResult",
    "PayloadError",
    "as_float",
    "as_id",
    "as_int",
    "as_list",
    "as_ms",
    "as_obj",
    "as_str",
    "as_time",
    "decode_object",
    "fallback_id",
    "label",
    "no_accounts",
    "unsupported",
]

#: (platform, the platform's id for our side: page, IG account, phone number id) -> channel_id.
ChannelResolver: TypeAlias = Callable[[Platform, str], str | None]

#: A WhatsApp Business Account id -> the channels (phone numbers) of ours it holds.
AccountResolver: TypeAlias = Callable[[str], Sequence[str]]


def no_accounts(account: str) -> Sequence[str]:
    """The resolver of a caller that knows no accounts."""
    return ()


#: Shared read-only stand-in for a missing object, so lookups need no None checks or new dicts.
EMPTY: Final[Mapping[str, Any]] = {}

# Below this a timestamp must be in seconds: 1e11 ms is 1973, 1e11 s is the year 5138.
_SECONDS_BELOW: Final = 100_000_000_000
_LABEL_MAX: Final = 40


@dataclass(frozen=True, slots=True)
class Ignored:
    """An item that belongs to no account or conversation of ours, so it made no event.

    ``reason`` is a fixed phrase (a metrics label); ``detail`` names a field, an event or
    our own account id, never message text, customer ids or tokens, so both may be logged.
    """

    platform: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return (
            f"{self.platform}: {self.reason} {self.detail}"
            if self.detail
            else (f"{self.platform}: {self.reason}")
        )


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Events in body order, and one :class:`Ignored` per item that made no event.

    Every item of a known account makes an event (at worst an ``Unsupported`` one or a
    ``ChannelAlert``); only items that belong to nobody are ignored.
    """

    events: list[Event]
    ignored: list[Ignored]


class Head(TypedDict):
    """The fields every platform event starts with, unpacked into its constructor."""

    channel_id: str
    platform: Platform
    customer: Customer
    timestamp_ms: int


class PayloadError(ValueError):
    """The body is not a JSON object, or has none of the structure the platform promises."""


_decode: Final = msgspec.json.Decoder()


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode once into plain dicts and lists; integers stay exact (no float on the way)."""
    try:
        root = _decode.decode(body)
    except msgspec.DecodeError as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is JSON nested too deeply") from None
    if not isinstance(root, dict):
        raise PayloadError(f"body is JSON {type(root).__name__}, not an object")
    return root


def as_obj(value: object) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else EMPTY


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def as_id(value: object) -> str | None:
    """An id that may come as a string or a JSON integer (Meta sends both); never a float."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: object) -> int | None:
    """An integer given as a JSON number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
    return None


def as_ms(value: object) -> int | None:
    """A timestamp in ms; seconds (WhatsApp, Meta's string ``timestamp``) are scaled up."""
    number = as_int(value)
    if number is None or number < 0:
        return None
    return number * 1000 if number < _SECONDS_BELOW else number


def as_time(value: object) -> int | None:
    """A timestamp in ms from a number, a string of digits, or an ISO-8601 string.

    Some senders (and test factories) write ISO-8601 instead of Meta's integers; a zone-less
    one is taken as UTC.
    """
    ms = as_ms(value)
    if ms is not None or not isinstance(value, str) or not value[:4].isdigit():
        return ms
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = int(moment.timestamp() * 1000)
    return stamp if stamp >= 0 else None


def as_float(value: object) -> float | None:
    """A finite coordinate (a NaN would not survive the event's JSON encoding)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def label(value: object) -> str:
    """A platform-chosen name (field, type, event), made short and printable for a log line."""
    if isinstance(value, str):
        text = value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
        return text if len(text) <= _LABEL_MAX else text[:_LABEL_MAX] + "…"
    if value is None:
        return "missing"
    if isinstance(value, bool | int | float):
        return repr(value)
    return type(value).__name__


def fallback_id(kind: str, head: Head) -> str:
    """A stable id for an item that has none of its own, so retries still dedupe."""
    return f"{kind}:{head['customer'].id}:{head['timestamp_ms']}"


def unsupported(head: Head, raw_type: str, reason: str, **fields: Any) -> Unsupported:
    """An item in the customer's conversation that the app shows as "open it in <platform>".

    ``reason`` is a fixed phrase (a metrics label); ``raw_type`` the platform's own name.
    """
    fields.setdefault("platform_id", fallback_id(f"unsupported:{raw_type}", head))
    return Unsupported(**head, raw_type=raw_type, reason=reason, **fields)
