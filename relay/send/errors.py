"""The typed error every outbound send raises, in plain words a shop owner can act on."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Final

import httpx

from common.channels import TEXT_LIMITS, Platform
from common.protocol import SendErrorCode

__all__ = [
    "PLATFORM_NAMES",
    "SendError",
    "network_error",
    "redact",
    "retry_after_seconds",
    "too_long",
]

PLATFORM_NAMES: Final[Mapping[Platform, str]] = {
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "webchat": "Web chat",
}


class SendError(Exception):
    """A send that did not go out.

    ``message`` is for the shop owner and never holds a credential; ``detail`` is the
    platform's own words for logs (credentials redacted). ``transient`` says a later
    identical attempt may succeed (throttling, 5xx, network trouble); ``retry_after_s`` is
    the platform's hint of when, if it gave one.
    """

    code: SendErrorCode
    message: str
    transient: bool
    retry_after_s: float | None
    platform_code: int | None
    detail: str | None

    def __init__(
        self,
        code: SendErrorCode,
        message: str,
        *,
        transient: bool = False,
        retry_after_s: float | None = None,
        platform_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.retry_after_s = retry_after_s
        self.platform_code = platform_code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"SendError(code={self.code!r}, message={self.message!r}, "
            f"transient={self.transient!r}, retry_after_s={self.retry_after_s!r}, "
            f"platform_code={self.platform_code!r}, detail={self.detail!r})"
        )


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every credential in ``text``: platforms sometimes echo what they were sent."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def too_long(platform: Platform, length: int) -> SendError:
    limit = TEXT_LIMITS[platform]
    return SendError(
        "too_long",
        f"The reply is {length} characters long; {PLATFORM_NAMES[platform]} allows at most "
        f"{limit}. Shorten it or split it into several messages.",
    )


def network_error(platform: Platform, exc: httpx.TransportError) -> SendError:
    """Map a failure to reach the platform; the exception text is kept out of ``message``."""
    name = PLATFORM_NAMES[platform]
    # Only a request that never reached the platform is safe to repeat: after a read
    # timeout or a dropped answer the message may already have gone out.
    unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if unsent:
        message = f"Could not reach {name}; check the internet connection of the relay."
    else:
        message = (
            f"{name} did not confirm the message in time; it may or may not have been"
            " delivered, so it was not sent again."
        )
    # The type name only: an exception's text may carry a URL, and URLs can carry tokens.
    return SendError("platform_error", message, transient=unsent, detail=type(exc).__name__)


def retry_after_seconds(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Read ``Retry-After`` (delta seconds, or an HTTP date) as seconds from now."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
