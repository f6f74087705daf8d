"""``POST /v1/messages``: send a reply once, inside the platform's rules, and log it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Literal

import msgspec
from litestar import Router, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from common.channels import TEXT_LIMITS, window_state
from common.events import Customer, MessageSent, SendFailed
from common.protocol import ApiError, SendReply, SendResult
from relay.activity import SendOutcome
from relay.auth import Principal, provide_principal
from relay.crypto import CredentialError
from relay.directory import decode_credentials
from relay.errors import RelayError
from relay.health import token_rejected
from relay.ingest import record
from relay.metrics import SEND_FAILURES, SENDS
from relay.send import MAX_BACKOFF_S, OutboundText, send_with_retry
from relay.send.errors import SendError
from relay.services import Services, now_ms
from relay.store import ChannelRow, SendClaim
from relay.usage import release, reserve, warn_if_crossed

__all__ = ["send_reply_as", "sending_router"]

log = logging.getLogger("clientora.relay.send")

# HTTP status for each permanent send error the desktop explains to the owner.
_STATUS = {
    "too_long": 422,
    "window_closed": 422,
    "bad_request": 422,
    "recipient_unavailable": 422,
    "unknown_recipient": 422,
    "token_invalid": 424,
    "rate_limited": 429,
    "quota_exceeded": 429,
    "already_replied": 409,
    "idempotency_conflict": 409,
    "outcome_unknown": 409,
    "platform_error": 502,
}


class _Sent(msgspec.Struct, frozen=True):
    platform_message_id: str | None
    tag: str | None


def _fingerprint(data: SendReply) -> str:
    parts = (
        data.channel_id,
        data.recipient_id,
        data.text,
        str(data.automatic),
        data.reply_to or "",
        data.in_reply_to or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _lease_ms(services: Services) -> int:
    """How long a send may take with every retry (attempts, time-outs, longest backoff),
    plus a margin: a claim held longer belongs to a relay that crashed or hung."""
    settings = services.settings
    per_attempt_s = settings.send_timeout_s + MAX_BACKOFF_S
    return int((settings.send_attempts * per_attempt_s + 30.0) * 1000)


def _credentials(services: Services, row: ChannelRow) -> dict[str, str]:
    """The channel's decrypted credentials; one that no longer decrypts (its key was
    retired, the row was damaged) asks the owner to reconnect, like a rejected token."""
    try:
        return decode_credentials(services.keyring, row)
    except CredentialError:
        log.warning("a channel credential cannot be decrypted", extra={"channel_id": row.id})
        raise SendError(
            "token_invalid",
            "The channel's saved credential can no longer be read. Reconnect the channel.",
        ) from None


def _replay(claim: SendClaim) -> SendResult:
    """Answer a repeated idempotency key with what the first request got."""
    if claim.state == "sent" and claim.result is not None:
        sent = msgspec.json.decode(claim.result, type=_Sent)
        return SendResult(
            send_id=claim.send_id,
            platform_message_id=sent.platform_message_id,
            seq=claim.seq or 0,
            tag=sent.tag,
        )
    if claim.state == "failed" and claim.result is not None:
        error = msgspec.json.decode(claim.result, type=ApiError)
        raise RelayError(_STATUS.get(error.code, 422), error.code, error.message)
    if claim.state == "unknown":
        # Never retried blindly: only the owner can tell whether the customer got it.
        raise RelayError(
            409,
            "outcome_unknown",
            "The relay lost track of this reply while sending it: it may or may not have "
            "reached the customer. Check the conversation before sending it again.",
        )
    raise RelayError(
        409, "idempotency_conflict", "A send with this key is still in progress.", retry_after_s=1
    )


@post("/", status_code=200)
async def send_reply(
    data: JSONBody[SendReply],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> SendResult:
    row = await services.owned_channel(principal.business_id, data.channel_id)
    if not data.text.strip():
        raise RelayError(422, "bad_request", "The reply is empty.")
    if not data.recipient_id.strip():
        raise RelayError(422, "unknown_recipient", "The reply has no recipient.")
    if not 8 <= len(data.idempotency_key) <= 200:
        raise RelayError(422, "bad_request", "idempotency_key must be 8 to 200 characters.")
    return await send_reply_as(services, principal.business_id, row, data)


async def send_reply_as(
    services: Services,
    business_id: str,
    row: ChannelRow,
    data: SendReply,
    sent_by: Literal["server"] | None = None,
) -> SendResult:
    """Send ``data`` on the business's channel ``row``: length, quota, idempotency and
    window rules, then the platform; ``sent_by="server"`` marks the relay's own reply."""
    platform = row.platform
    limit = TEXT_LIMITS[platform]
    if len(data.text) > limit:
        raise RelayError(
            422,
            "too_long",
            f"The reply has {len(data.text)} characters; {platform} allows {limit}.",
        )

    lease_ms = _lease_ms(services)
    # The message is held against the plan before anything else, so concurrent sends
    # cannot pass the limit together; the hold ends once the send is counted (or not).
    hold = await reserve(services, business_id, {"outbound_messages": 1}, lease_ms)
    try:
        return await _claim_and_deliver(services, business_id, row, data, lease_ms, sent_by)
    finally:
        await release(services, hold)


async def _claim_and_deliver(
    services: Services,
    business_id: str,
    row: ChannelRow,
    data: SendReply,
    lease_ms: int,
    sent_by: Literal["server"] | None,
) -> SendResult:
    fingerprint = _fingerprint(data)
    claim = await services.store.claim_send(
        business_id,
        data.idempotency_key,
        fingerprint,
        row.id,
        data.in_reply_to if data.automatic else None,
        lease_ms=lease_ms,
    )
    if claim.state == "already_replied":
        raise RelayError(
            409, "already_replied", "An automatic reply to this message was already sent."
        )
    if claim.fingerprint != fingerprint:
        raise RelayError(
            409,
            "idempotency_conflict",
            "This idempotency key was already used for a different reply.",
        )
    if claim.state != "new":
        return _replay(claim)
    return await _deliver(services, business_id, row, data, claim.send_id, sent_by)


async def _deliver(
    services: Services,
    business_id: str,
    row: ChannelRow,
    data: SendReply,
    send_id: str,
    sent_by: Literal["server"] | None,
) -> SendResult:
    platform = row.platform
    customer = Customer(id=data.recipient_id)
    left = False
    try:
        last = await services.store.last_inbound(row.id, data.recipient_id)
        window = window_state(platform, last, now_ms(), human=not data.automatic)
        if window == "closed":
            raise SendError(
                "window_closed",
                "The reply window has closed; the customer has to write again first."
                if not data.automatic or platform not in ("messenger", "instagram")
                else "Automatic replies may only go out within 24 hours of the customer's message.",
            )
        tag = "HUMAN_AGENT" if window == "human_agent" else None
        out = OutboundText(
            platform=platform,
            external_id=row.external_id,
            recipient_id=data.recipient_id,
            text=data.text,
            reply_to=data.reply_to,
            tag=tag,
            sender_name=services.settings.viber_sender_name or row.name,
        )
        if platform == "webchat":
            # The visitor's page reads replies from the log: storing it is delivering it.
            message_id = f"wc.{send_id}"
        else:
            credentials = _credentials(services, row)
            left = True  # from here on the request may have reached the platform
            message_id = await send_with_retry(
                services.http,
                services.urls,
                credentials,
                out,
                attempts=services.settings.send_attempts,
            )
    except SendError as exc:
        SEND_FAILURES.labels(exc.code).inc()
        services.activity.sent(row.id, SendOutcome(now_ms(), False, exc.code))
        log.warning(
            "send failed",
            extra={"channel_id": row.id, "code": exc.code, "platform_code": exc.platform_code},
        )
        if exc.transient:
            # Nothing went out: the same key may try again later.
            await services.store.release_send(send_id)
            raise RelayError(
                _STATUS.get(exc.code, 502), exc.code, exc.message, retry_after_s=exc.retry_after_s
            ) from None
        failed = SendFailed(
            channel_id=row.id,
            platform=platform,
            customer=customer,
            timestamp_ms=now_ms(),
            send_id=send_id,
            idempotency_key=data.idempotency_key,
            error=exc.code,
            message=exc.message,
            device_id=data.device_id,
        )
        error = ApiError(code=exc.code, message=exc.message)
        await services.store.finish_send(
            send_id, False, msgspec.json.encode(error), record(business_id, failed)
        )
        if exc.code == "token_invalid":
            await token_rejected(services, row, exc.message)
        raise RelayError(
            _STATUS.get(exc.code, 422), exc.code, exc.message, retry_after_s=exc.retry_after_s
        ) from None
    except BaseException:
        if not left:
            # Nothing went out: free the key, or every retry would wait on a dead claim.
            await asyncio.shield(services.store.release_send(send_id))
        # Else the claim stays pending until its lease ends; then its outcome is unknown.
        raise

    SENDS.labels(platform).inc()
    services.activity.sent(row.id, SendOutcome(now_ms(), True))
    sent = MessageSent(
        channel_id=row.id,
        platform=platform,
        customer=customer,
        timestamp_ms=now_ms(),
        platform_id=message_id,
        text=data.text,
        send_id=send_id,
        idempotency_key=data.idempotency_key,
        automatic=data.automatic,
        reply_to=data.reply_to,
        tag=tag,
        device_id=data.device_id,
        sent_by=sent_by,
    )
    seq = await services.store.finish_send(
        send_id,
        True,
        msgspec.json.encode(_Sent(message_id, tag)),
        record(business_id, sent),
    )
    await warn_if_crossed(services, business_id, "outbound_messages")
    return SendResult(send_id=send_id, platform_message_id=message_id, seq=seq, tag=tag)


def sending_router() -> Router:
    return Router(
        "/v1/messages",
        route_handlers=[send_reply],
        dependencies={"principal": Provide(provide_principal)},
    )
