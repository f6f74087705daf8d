"""Channel health: is the token accepted, are the webhooks subscribed, when did the last
event arrive and how did the last send go; checked on connect, daily, and at once when a
platform rejects a token. Every change of a channel's health is a ``ChannelChanged`` event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Final

import msgspec
from litestar import Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from common.channels import ChannelStatus
from common.events import ChannelChanged
from common.health import ChannelHealth, CheckName, CheckState, HealthAction, HealthCheck
from relay import subscriptions
from relay.activity import SendOutcome
from relay.auth import Principal, provide_principal
from relay.errors import RelayError
from relay.ingest import system_event
from relay.send import graph_admin as graph
from relay.send import viber_account_info
from relay.send.errors import PLATFORM_NAMES, SendError
from relay.services import Services, now_ms
from relay.store import ChannelRow, NewEvent
from relay.store.base import ChannelHealthRow
from relay.subscriptions import Access, access_of, viber_webhook_url

__all__ = [
    "Check",
    "channel_changed",
    "check_channel",
    "flush_activity",
    "forget_channel",
    "health_of",
    "health_router",
    "keep_checking",
    "note_connected",
    "resubscribe",
    "run_health_checks",
    "subscribe_channel",
    "token_rejected",
]

log = logging.getLogger("clientora.relay.health")


#: A token that expires sooner than this is reported, so the owner reconnects in time.
EXPIRY_WARNING_MS: Final = 7 * 24 * 3600 * 1000
#: Channels checked at the same time by the daily run.
CONCURRENT_CHECKS: Final = 4
#: The first daily run waits this long after start, so restarts do not hammer the platforms.
FIRST_CHECK_DELAY_S: Final = 60.0

_PROBLEM_STATUSES: Final = frozenset({"needs_reconnect", "webhook_failing"})
_META: Final = frozenset({"messenger", "instagram", "whatsapp"})


# ---- what is stored, what is shown ------------------------------------------------------


class Check(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    state: CheckState = "unknown"
    message: str = ""
    checked_at_ms: int | None = None


class StoredChecks(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The JSON in ``channel_health.checks``."""

    token: Check = Check()
    subscription: Check = Check()
    webhook: Check = Check()
    token_expires_at_ms: int | None = None


_CHECKS_DECODER: Final = msgspec.json.Decoder(StoredChecks)


def _decode_checks(blob: bytes) -> StoredChecks:
    if not blob:
        return StoredChecks()
    try:
        return _CHECKS_DECODER.decode(blob)
    except msgspec.DecodeError:
        return StoredChecks()


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def _meta_configured(services: Services) -> bool:
    return bool(services.settings.meta_app_id and services.settings.meta_app_secret)


# ---- state changes ------------------------------------------------------------------------


async def _stored(services: Services, row: ChannelRow) -> ChannelHealthRow:
    found = await services.store.channel_health(row.business_id, row.id)
    return found or ChannelHealthRow(channel_id=row.id, business_id=row.business_id)


def _new_status(row: ChannelRow, checks: StoredChecks) -> tuple[ChannelStatus, str | None]:
    """The channel's status after these checks, and the words that explain it."""
    if checks.token.state == "problem":
        return "needs_reconnect", checks.token.message
    for check in (checks.subscription, checks.webhook):
        if check.state == "problem":
            return "webhook_failing", check.message
    # A problem is only over when the check that found it passes again.
    if row.status == "needs_reconnect" and checks.token.state != "ok":
        return row.status, None
    if row.status == "webhook_failing" and "ok" not in (
        checks.subscription.state,
        checks.webhook.state,
    ):
        return row.status, None
    # A good check of a channel without a problem changes nothing ("connected" stays).
    return ("healthy" if row.status in _PROBLEM_STATUSES else row.status), None


def channel_changed(row: ChannelRow, status: ChannelStatus, detail: str | None = None) -> NewEvent:
    """The business-wide event that tells the devices a channel's new status (and why)."""
    return system_event(
        row.business_id,
        ChannelChanged(
            timestamp_ms=now_ms(),
            channel_id=row.id,
            platform=row.platform,
            status=status,
            name=row.name,
            detail=detail,
        ),
    )


async def _announce(
    services: Services, row: ChannelRow, status: ChannelStatus, detail: str | None
) -> None:
    await services.store.set_channel_status(row.business_id, row.id, status)
    await services.store.append([channel_changed(row, status, detail)])
    log.info("channel health changed", extra={"channel_id": row.id, "status": status})


async def _save(
    services: Services,
    row: ChannelRow,
    checks: StoredChecks,
    *,
    node_id: str | None = None,
    avatar_url: str | None = None,
) -> ChannelRow:
    """Store the checks; announce a status change. Returns the row with its new status."""
    stored = await _stored(services, row)
    await services.store.save_channel_health(
        dataclasses.replace(
            stored,
            node_id=stored.node_id if node_id is None else node_id,
            avatar_url=stored.avatar_url if avatar_url is None else avatar_url,
            checks=msgspec.json.encode(checks),
        )
    )
    status, detail = _new_status(row, checks)
    if status == row.status:
        return row
    await _announce(services, row, status, detail)
    return dataclasses.replace(row, status=status)


async def token_rejected(services: Services, row: ChannelRow, detail: str | None = None) -> None:
    """The platform refused the channel's token (Graph error 190, Viber status 2): the
    channel needs reconnecting, from now on. Every path that talks to a platform calls this."""
    message = detail or (
        f"{PLATFORM_NAMES[row.platform]} no longer accepts this channel's access;"
        " reconnect the channel."
    )
    stored = _decode_checks((await _stored(services, row)).checks)
    checks = msgspec.structs.replace(
        stored, token=Check(state="problem", message=message, checked_at_ms=now_ms())
    )
    fresh = await services.store.channel(row.business_id, row.id)
    if fresh is None:
        return
    await _save(services, fresh, checks)


async def note_connected(
    services: Services,
    row: ChannelRow,
    *,
    token: Check | None = None,
    subscription: Check | None = None,
    webhook: Check | None = None,
    token_expires_at_ms: int | None = None,
    avatar_url: str | None = None,
) -> None:
    """Record what connecting a channel already proved (its token, its subscription)."""
    access = access_of(services, row)
    checks = StoredChecks(
        token=token or Check(),
        subscription=subscription or Check(),
        webhook=webhook or Check(),
        token_expires_at_ms=token_expires_at_ms,
    )
    await _save(services, row, checks, node_id=access.node_id, avatar_url=avatar_url)


# ---- checks -------------------------------------------------------------------------------


async def _check_meta_token(
    services: Services, row: ChannelRow, access: Access, now: int
) -> tuple[Check, int | None]:
    if not _meta_configured(services):
        return Check(
            message="This relay has no Meta app configured, so the token cannot be checked."
        ), None
    settings = services.settings
    try:
        info = await graph.debug_token(
            services.http,
            services.urls.graph,
            app_id=settings.meta_app_id,
            app_secret=settings.meta_app_secret,
            token=access.token,
        )
    except SendError as exc:
        log.warning("token check failed", extra={"channel_id": row.id, "detail": exc.detail})
        return Check(message=f"The token could not be checked: {exc.message}"), None
    name = PLATFORM_NAMES[row.platform]
    if not info.is_valid:
        reason = f" ({info.error.message})" if info.error and info.error.message else ""
        return Check(
            state="problem",
            message=f"{name} no longer accepts this channel's access{reason}. Reconnect it.",
            checked_at_ms=now,
        ), None
    expires = info.expires_at * 1000 if info.expires_at else None
    if expires is not None and expires - now < EXPIRY_WARNING_MS:
        return Check(
            state="warning",
            message=f"This channel's access expires on {_when(expires)}; reconnect before then.",
            checked_at_ms=now,
        ), expires
    return Check(state="ok", message=f"{name} accepts the token.", checked_at_ms=now), expires


async def _check_meta_subscription(
    services: Services, row: ChannelRow, access: Access, now: int
) -> Check:
    if not access.node_id:
        return Check(
            message="Clientora does not know which Page this account's messages come through;"
            " connect it with Facebook to check its webhooks."
        )
    kind: graph.NodeKind = "page" if access.kind == "page" else "waba"
    what = "Page" if kind == "page" else "WhatsApp Business account"
    present = await graph.subscribed(
        services.http,
        services.urls.graph,
        kind,
        access.node_id,
        access.token,
        services.settings.meta_app_id,
    )
    if present:
        return Check(state="ok", message=f"The {what} sends its messages here.", checked_at_ms=now)
    return Check(
        state="problem",
        message=f"Facebook is not sending this {what}'s messages to Clientora. Resubscribe.",
        checked_at_ms=now,
    )


async def check_channel(services: Services, row: ChannelRow) -> ChannelHealth:
    """Ask the platform about the channel now; store and announce what changed."""
    access = access_of(services, row)
    stored_row = await _stored(services, row)
    checks = _decode_checks(stored_row.checks)
    now = now_ms()
    avatar: str | None = None
    if row.platform in _META:
        token, expires = await _check_meta_token(services, row, access, now)
        checks = msgspec.structs.replace(checks, token=token, token_expires_at_ms=expires)
        if token.state != "problem":
            try:
                subscription = await _check_meta_subscription(services, row, access, now)
            except SendError as exc:
                if exc.code == "token_invalid":
                    await token_rejected(services, row)
                    return await health_of(services, row.business_id, row.id)
                subscription = Check(
                    message=f"The subscription could not be checked: {exc.message}"
                )
            checks = msgspec.structs.replace(checks, subscription=subscription)
    elif row.platform == "viber":
        try:
            info = await viber_account_info(services.http, services.urls, access.token)
        except SendError as exc:
            if exc.code == "token_invalid":
                await token_rejected(services, row, exc.message)
                return await health_of(services, row.business_id, row.id)
            checks = msgspec.structs.replace(
                checks, token=Check(message=f"The bot could not be checked: {exc.message}")
            )
        else:
            expected = viber_webhook_url(services, row.id)
            registered = info.get("webhook") == expected
            checks = msgspec.structs.replace(
                checks,
                token=Check(state="ok", message="Viber accepts the bot token.", checked_at_ms=now),
                subscription=Check(
                    state="ok" if registered else "problem",
                    message="Viber sends the bot's messages here."
                    if registered
                    else "Viber is not sending this bot's messages to Clientora. Resubscribe.",
                    checked_at_ms=now,
                ),
            )
            icon = info.get("icon")
            avatar = icon if isinstance(icon, str) and icon else None
    await _save(services, row, checks, node_id=access.node_id, avatar_url=avatar)
    return await health_of(services, row.business_id, row.id)


async def run_health_checks(services: Services) -> int:
    """Check every channel (the daily run); returns how many were checked. Also drops
    Meta logins past their time and health rows of channels that are gone."""
    await flush_activity(services)
    rows = [row for row in await services.store.all_channels() if row.platform != "webchat"]
    limit = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def one(row: ChannelRow) -> None:
        async with limit:
            try:
                await check_channel(services, row)
            except Exception:  # one channel's surprise must not stop the others' checks
                log.exception("channel check failed", extra={"channel_id": row.id})

    await asyncio.gather(*(one(row) for row in rows))
    await services.store.expire_meta_logins(now_ms())
    await services.store.forget_channel_health(None)
    return len(rows)


async def flush_activity(services: Services) -> None:
    """Save the last-event and last-send times noted in memory since the last flush."""
    events, sends = services.activity.drain()
    if not events and not sends:
        return
    try:
        await services.store.record_channel_activity(
            events, {cid: (o.at_ms, o.ok, o.error) for cid, o in sends.items()}
        )
    except Exception:
        services.activity.restore(events, sends)
        raise


async def keep_checking(services: Services) -> None:
    """The background task: flush activity every ``health_flush_s``, check every channel
    every ``health_interval_s`` (the first time a minute after start)."""
    settings = services.settings
    flush_s = settings.health_flush_s if settings.health_flush_s > 0 else None
    interval = settings.health_interval_s if settings.health_interval_s > 0 else None
    loop = asyncio.get_running_loop()
    next_check = loop.time() + min(FIRST_CHECK_DELAY_S, interval) if interval else None
    while True:
        waits = [w for w in (flush_s, next_check - loop.time() if next_check else None) if w]
        await asyncio.sleep(max(0.0, min(waits)) if waits else 3600.0)
        try:
            await flush_activity(services)
            if next_check is not None and interval is not None and loop.time() >= next_check:
                next_check = loop.time() + interval
                checked = await run_health_checks(services)
                log.info("channel health checked", extra={"channels": checked})
        except Exception:  # the next round tries again
            log.exception("channel health round failed")


# ---- the owner's view and actions ---------------------------------------------------------


def _line(name: CheckName, check: Check, fallback: str, fix: HealthAction | None) -> HealthCheck:
    needs_fix = check.state == "problem" or (check.state == "warning" and name == "token")
    return HealthCheck(
        name=name,
        state=check.state,
        message=check.message or fallback,
        checked_at_ms=check.checked_at_ms,
        action=fix if needs_fix else None,
    )


async def health_of(services: Services, business_id: str, channel_id: str) -> ChannelHealth:
    """What the relay knows of the channel's health, without asking the platform."""
    row = await services.owned_channel(business_id, channel_id)
    stored = await _stored(services, row)
    checks = _decode_checks(stored.checks)
    if row.status == "needs_reconnect" and checks.token.state != "problem":
        checks = msgspec.structs.replace(
            checks,
            token=Check(
                state="problem",
                message="The platform rejected this channel's access; reconnect the channel.",
            ),
        )
    lines: list[HealthCheck] = []
    if row.platform != "webchat":
        lines.append(_line("token", checks.token, "Not checked yet.", "reconnect"))
        lines.append(_line("subscription", checks.subscription, "Not checked yet.", "resubscribe"))
    if row.platform == "viber":
        lines.append(
            _line("webhook", checks.webhook, "The webhook was not registered yet.", "resubscribe")
        )
    last_event = max(
        (t for t in (stored.last_event_at_ms, services.activity.last_event(row.id)) if t),
        default=None,
    )
    lines.append(
        HealthCheck(
            name="events",
            state="ok" if last_event else "unknown",
            message=f"The last event arrived at {_when(last_event)}."
            if last_event
            else "Nothing has arrived on this channel yet.",
            checked_at_ms=last_event,
        )
    )
    send = services.activity.last_send(row.id)
    if send is None or (stored.last_send_at_ms or 0) > send.at_ms:
        send = (
            SendOutcome(stored.last_send_at_ms, bool(stored.last_send_ok), stored.last_send_error)
            if stored.last_send_at_ms
            else None
        )
    if send is None:
        lines.append(HealthCheck(name="sends", state="unknown", message="No reply sent yet."))
    elif send.ok:
        lines.append(
            HealthCheck(
                name="sends",
                state="ok",
                message=f"The last reply went out at {_when(send.at_ms)}.",
                checked_at_ms=send.at_ms,
            )
        )
    else:
        lines.append(
            HealthCheck(
                name="sends",
                state="warning",
                message=f"The last reply, at {_when(send.at_ms)}, failed ({send.error}).",
                checked_at_ms=send.at_ms,
            )
        )
    fixes: tuple[HealthAction, ...] = ("reconnect", "resubscribe")
    actions = [a for a in fixes if any(c.action == a for c in lines)]
    return ChannelHealth(
        channel_id=row.id,
        platform=row.platform,
        name=row.name,
        status=row.status,
        checks=lines,
        actions=actions,
        avatar_url=stored.avatar_url,
        token_expires_at_ms=checks.token_expires_at_ms,
        last_event_at_ms=last_event,
        last_send_at_ms=send.at_ms if send else None,
        last_send_ok=send.ok if send else None,
        last_send_error=send.error if send else None,
    )


async def subscribe_channel(services: Services, row: ChannelRow) -> None:
    """Subscribe this app to the channel's webhooks (Page, WhatsApp account, Viber bot).

    Raises RelayError in plain words; a rejected token also marks the channel."""
    try:
        await subscriptions.subscribe(services, row)
    except SendError as exc:
        if exc.code == "token_invalid":
            await token_rejected(services, row, exc.message)
            raise RelayError(424, "token_invalid", exc.message) from None
        log.warning(
            "subscription failed",
            extra={"channel_id": row.id, "code": exc.code, "detail": exc.detail},
        )
        name = PLATFORM_NAMES[row.platform]
        raise RelayError(
            502, exc.code, f"{name} did not accept the webhook subscription: {exc.message}"
        ) from None


async def resubscribe(services: Services, row: ChannelRow) -> ChannelHealth:
    """Subscribe again, then check the channel; a Viber bot's result is also its webhook check."""
    try:
        await subscribe_channel(services, row)
    except RelayError as exc:
        if row.platform == "viber" and exc.code != "token_invalid":
            stored = _decode_checks((await _stored(services, row)).checks)
            webhook = Check(state="problem", message=exc.message, checked_at_ms=now_ms())
            await _save(services, row, msgspec.structs.replace(stored, webhook=webhook))
        raise
    if row.platform == "viber":
        stored = _decode_checks((await _stored(services, row)).checks)
        webhook = Check(state="ok", message="Viber accepted the webhook.", checked_at_ms=now_ms())
        row = await _save(services, row, msgspec.structs.replace(stored, webhook=webhook))
    return await check_channel(services, row)


async def forget_channel(services: Services, channel_id: str) -> None:
    await services.store.forget_channel_health(channel_id)
    services.activity.forget(channel_id)


@get("/{channel_id:str}/health")
async def show_health(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelHealth:
    """The channel's health as last checked, with the action that fixes each problem."""
    return await health_of(services, principal.business_id, channel_id)


@post("/{channel_id:str}/check", status_code=200)
async def check_now(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelHealth:
    """Ask the platform now (token, subscription) instead of waiting for the daily check."""
    return await check_channel(
        services, await services.owned_channel(principal.business_id, channel_id)
    )


@post("/{channel_id:str}/resubscribe", status_code=200)
async def resubscribe_now(
    channel_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ChannelHealth:
    """Subscribe the app to the channel's webhooks again, then check it."""
    return await resubscribe(
        services, await services.owned_channel(principal.business_id, channel_id)
    )


def health_router() -> Router:
    return Router(
        "/v1/channels",
        route_handlers=[show_health, check_now, resubscribe_now],
        dependencies={"principal": Provide(provide_principal)},
    )
