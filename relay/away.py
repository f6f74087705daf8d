"""The away reply: the relay answers a new conversation once while the shop is offline.

A channel's switch says "when no device of the business has had its stream open for N
minutes, answer a new conversation once with the away text, in the customer's
language". A *new conversation* is an inbound text message that is the first event the
relay's log holds for that customer on that channel: the relay's own reply then stands
before any later message, so one conversation gets one answer; once acknowledged events
pass retention (docs/relay.md) a returning customer starts a new one. The reply goes
through the ordinary send path (window rules, the plan's quota, one automatic reply per
inbound message under an idempotency key derived from it) and its ``MessageSent`` is
marked ``sent_by="server"``, so a device sees it when it reconnects.

The check runs right after the webhook's 200. So that a process dying in between owes no
customer an answer, every process also sweeps the log now and then (``away_sweep_s``):
messages that opened a conversation on a switched-on channel and have no reply after
them are checked again, judged as of the moment they were stored (a device seen since
then received them), and the idempotency key keeps the reply to one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence

import msgspec
from litestar import Router, get, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from common.away import AwayChannel, AwayMessages, AwaySettings, pick_message
from common.events import EVENT_DECODER, MessageReceived
from common.protocol import SendReply
from relay.auth import Principal, provide_principal
from relay.errors import RelayError
from relay.metrics import AWAY_REPLIES
from relay.sending import send_reply_as
from relay.services import Services, now_ms

__all__ = ["away_router", "consider_away", "keep_sweeping", "presence_stale_ms"]

log = logging.getLogger("clientora.relay.away")

_MESSAGES = msgspec.json.Decoder(AwayMessages)
_OFF = AWAY_REPLIES.labels("off")


def presence_stale_ms(services: Services) -> int:
    """A device's open-stream count not refreshed for this long was left by a dead process
    (streams refresh it every ``heartbeat_s``)."""
    return int(3 * services.settings.heartbeat_s * 1000)


def away_key(event: MessageReceived) -> str:
    """The idempotency key of the away reply to ``event``: the same for a redelivery of it
    to any relay process, so the reply goes out at most once."""
    digest = hashlib.sha256(f"{event.channel_id}\x1f{event.platform_id}".encode()).hexdigest()
    return f"away:{digest[:40]}"


def consider_away(services: Services, stored: Sequence[tuple[str, int, MessageReceived]]) -> None:
    """Start the away check for newly stored inbound messages (business, seq, event);
    it runs after the webhook's 200, so a slow platform never delays the answer."""
    for business_id, seq, event in stored:
        if event.channel_id not in services.away_on:
            _OFF.inc()  # no task, no database read: most channels never switch it on
            continue
        task = asyncio.get_running_loop().create_task(
            _answer_if_away(services, business_id, seq, event), name="away"
        )
        services.background.add(task)
        task.add_done_callback(services.background.discard)


async def _answer_if_away(
    services: Services,
    business_id: str,
    seq: int,
    event: MessageReceived,
    stored_at_ms: int | None = None,
) -> None:
    try:
        outcome = await _answer(services, business_id, seq, event, stored_at_ms)
    except RelayError as exc:
        # The send path refused (quota, window...); a permanent send failure is also a
        # SendFailed event in the thread.
        outcome = exc.code
    except Exception:
        log.exception("away reply failed", extra={"channel_id": event.channel_id})
        outcome = "error"
    AWAY_REPLIES.labels(outcome).inc()
    if outcome not in _QUIET:
        log.info("away reply", extra={"channel_id": event.channel_id, "outcome": outcome})


# Outcomes of every ordinary message, not worth a log line each.
_QUIET = frozenset({"off", "present", "not_new"})


async def _answer(
    services: Services,
    business_id: str,
    seq: int,
    event: MessageReceived,
    stored_at_ms: int | None,
) -> str:
    """Send the away reply if due, judging presence as of ``stored_at_ms`` (None: now);
    the outcome: "sent", or why not."""
    store = services.store
    # One primary-key read per inbound message while the switch is off.
    switch = await store.away_channel(event.channel_id)
    if switch is None or not switch[0]:
        return "off"
    now = now_ms()
    at = now if stored_at_ms is None else stored_at_ms
    live, seen = await store.presence(business_id, now - presence_stale_ms(services))
    # A device seen after the message was stored has received it.
    if live or (seen is not None and at - seen < switch[1] * 60_000):
        return "present"
    if not await store.first_of_customer(event.channel_id, event.customer.id, seq):
        return "not_new"
    raw = await store.away_messages(business_id)
    text = pick_message(_MESSAGES.decode(raw), event.text or "") if raw else None
    row = await store.channel(business_id, event.channel_id)
    if text is None or row is None:
        return "no_text"
    reply = SendReply(
        channel_id=row.id,
        recipient_id=event.customer.id,
        text=text,
        idempotency_key=away_key(event),
        automatic=True,
        in_reply_to=event.platform_id,
    )
    await send_reply_as(services, business_id, row, reply, sent_by="server")
    return "sent"


#: How far back the first sweep of a process looks: an away reply later than this would
#: come too late to help (and the device, once back, answers itself).
SWEEP_HORIZON_MS = 15 * 60_000
#: Messages younger than this are left to the check their webhook started.
SWEEP_GRACE_MS = 10_000
_SWEEP_BATCH = 1000


async def sweep_once(services: Services, after_ms: int) -> int:
    """Check the messages stored after ``after_ms`` (and before the grace period) that
    may still owe an away reply; returns where the next sweep starts."""
    until = now_ms() - SWEEP_GRACE_MS
    if after_ms >= until:
        return after_ms
    rows = await services.store.away_candidates(after_ms, until, _SWEEP_BATCH)
    for row in rows:
        event = EVENT_DECODER.decode(row["payload"])
        if isinstance(event, MessageReceived):
            business_id, seq, stored_at = (
                str(row["business_id"]),
                int(row["seq"]),
                int(row["stored_at_ms"]),
            )
            await _answer_if_away(services, business_id, seq, event, stored_at)
    if len(rows) == _SWEEP_BATCH:
        # More wait: go on from the last one's millisecond (checking a message twice
        # sends nothing twice).
        return max(after_ms, int(rows[-1]["stored_at_ms"]) - 1)
    return until


async def keep_sweeping(services: Services) -> None:
    """Sweep every ``away_sweep_s`` for as long as the relay runs; the first sweep looks
    ``SWEEP_HORIZON_MS`` back, for messages a process that died left unchecked."""
    after = now_ms() - SWEEP_HORIZON_MS
    while True:
        try:
            after = await sweep_once(services, after)
        except Exception:
            log.exception("away sweep failed; trying again later")
        await asyncio.sleep(services.settings.away_sweep_s)


@get("/")
async def away_settings(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> AwaySettings:
    raw = await services.store.away_messages(principal.business_id)
    channels = await services.store.away_channels(principal.business_id)
    connected, _ = await services.store.presence(
        principal.business_id, now_ms() - presence_stale_ms(services)
    )
    return AwaySettings(
        connected=connected,
        messages=_MESSAGES.decode(raw) if raw else AwayMessages(),
        channels={
            cid: AwayChannel(enabled=enabled, minutes=minutes)
            for cid, (enabled, minutes) in channels.items()
        },
    )


@put("/messages")
async def put_messages(
    data: JSONBody[AwayMessages],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> AwayMessages:
    await services.store.set_away_messages(principal.business_id, msgspec.json.encode(data))
    return data


@put("/channels/{channel_id:str}")
async def put_channel(
    channel_id: FromPath[str],
    data: JSONBody[AwayChannel],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> AwayChannel:
    if not await services.store.set_away_channel(
        principal.business_id, channel_id, data.enabled, data.minutes
    ):
        raise RelayError(404, "unknown_channel", "No such channel in this business.")
    if data.enabled:
        services.away_on.add(channel_id)
    else:
        services.away_on.discard(channel_id)
    return data


def away_router() -> Router:
    return Router(
        "/v1/away",
        route_handlers=[away_settings, put_messages, put_channel],
        dependencies={"principal": Provide(provide_principal)},
    )
