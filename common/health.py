"""A channel's health on the wire: one line per check, and the fixes it asks for."""

from __future__ import annotations

from typing import Literal

import msgspec

from common.channels import ChannelStatus, Platform

__all__ = ["ChannelHealth", "CheckName", "CheckState", "HealthAction", "HealthCheck"]

CheckName = Literal["token", "subscription", "webhook", "events", "sends"]
CheckState = Literal["ok", "warning", "problem", "unknown"]
#: The one action that fixes a problem: sign in with the platform again, or subscribe again.
HealthAction = Literal["reconnect", "resubscribe"]


class HealthCheck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line of a channel's health, with the one action that fixes it if it needs one."""

    name: CheckName
    state: CheckState
    message: str
    checked_at_ms: int | None = None
    action: HealthAction | None = None


class ChannelHealth(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``GET /v1/channels/{id}/health``; ``actions`` are the fixes the checks ask for, most
    urgent first."""

    channel_id: str
    platform: Platform
    name: str | None
    status: ChannelStatus
    checks: list[HealthCheck]
    actions: list[HealthAction]
    avatar_url: str | None = None
    token_expires_at_ms: int | None = None
    last_event_at_ms: int | None = None
    last_send_at_ms: int | None = None
    last_send_ok: bool | None = None
    last_send_error: str | None = None
