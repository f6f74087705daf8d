"""People at Meta's login dialog, for the fake Graph: their Pages (with tasks and linked
Instagram accounts), WhatsApp Business accounts and numbers, and what they grant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALL_SCOPES",
    "ALL_TASKS",
    "FakeInstagram",
    "FakePage",
    "FakePhone",
    "FakeWhatsApp",
    "MetaUser",
]

ALL_SCOPES: Final = (
    "pages_show_list",
    "pages_manage_metadata",
    "pages_messaging",
    "instagram_basic",
    "instagram_manage_messages",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
    "public_profile",
)
#: Page webhook fields Graph accepts in ``subscribed_fields`` (a subset; enough to check).
ALL_TASKS: Final = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")


@dataclass(frozen=True, slots=True)
class FakeInstagram:
    id: str
    username: str
    name: str = ""
    picture: str | None = None


@dataclass(frozen=True, slots=True)
class FakePage:
    id: str
    name: str
    token: str
    tasks: tuple[str, ...] = ALL_TASKS
    instagram: FakeInstagram | None = None


@dataclass(frozen=True, slots=True)
class FakePhone:
    id: str
    display: str
    verified_name: str


@dataclass(frozen=True, slots=True)
class FakeWhatsApp:
    id: str
    name: str
    phones: tuple[FakePhone, ...] = ()


@dataclass(frozen=True, slots=True)
class MetaUser:
    """A person at Meta's login dialog, and what they choose there."""

    id: str
    pages: tuple[FakePage, ...] = ()
    whatsapp: tuple[FakeWhatsApp, ...] = ()
    #: The permissions they leave switched on.
    scopes: tuple[str, ...] = ALL_SCOPES
    #: ``cancel``: they close the dialog ("Not now"); Meta redirects with an error.
    decision: Literal["grant", "cancel"] = "grant"
