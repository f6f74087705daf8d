"""Erasing data at the relay: one customer, a Meta deletion request, a whole account.

Every erasure of a customer removes what the relay holds about them on one channel,
appends a ``CustomerErased`` event (carrying a hash, never the id) for every device,
and is recorded under a request id; devices confirm what they erased, and
``GET /v1/erasures/{id}`` gives a dated receipt signed by the relay (relay/receipts.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from common.erasure import ErasureConfirmation, ErasureResult, customer_hash
from common.events import EVENT_DECODER, CustomerErased
from common.protocol import AccountDeletion
from relay.accounts import recheck_password
from relay.auth import Principal, provide_principal
from relay.errors import RelayError
from relay.ingest import system_event
from relay.receipts import public_keys, sign_receipt
from relay.services import Services, now_ms
from relay.store import ChannelRow
from relay.store.base import DeletionRequestRow, ErasureRow

__all__ = [
    "META_PLATFORMS",
    "dedupe_key_of",
    "device_statuses",
    "erase_customer",
    "erasure_router",
    "iso_time",
    "meta_deletion_router",
    "parse_signed_request",
]

log = logging.getLogger("clientora.relay.erasure")

#: Where Meta's data-deletion callback looks for the person it names.
META_PLATFORMS = ("messenger", "instagram")
MAX_CUSTOMER_ID = 256
_MAX_COUNTS = 20
_COUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def dedupe_key_of(kind: str, payload: bytes) -> str | None:
    """The dedupe key a stored event was written under (``relay.ingest.record``)."""
    try:
        event = EVENT_DECODER.decode(payload)
    except msgspec.DecodeError:
        return None
    platform_id = getattr(event, "platform_id", None)
    return f"{kind}:{platform_id}" if platform_id else None


def iso_time(ms: int) -> str:
    """UTC date and time to the second, ``2026-11-29T08:57:24Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def erase_customer(
    services: Services, channel: ChannelRow, customer_id: str, deletion_code: str | None = None
) -> ErasureRow:
    """Erase one customer of one channel at the relay and tell every device."""
    request_id = uuid.uuid4().hex
    notice = CustomerErased(
        timestamp_ms=now_ms(),
        channel_id=channel.id,
        customer_id="",
        request_id=request_id,
        customer_hash=customer_hash(channel.id, customer_id),
    )
    row = await services.store.erase_customer(
        channel.business_id,
        channel.id,
        customer_id,
        request_id,
        system_event(channel.business_id, notice),
        dedupe_key_of,
        deletion_code,
        # A platform may redeliver an erased message: a tombstone drops it. A web-chat page
        # resending its own message id is the visitor writing again (stored afresh).
        tombstones=channel.platform != "webchat",
    )
    if row is None:  # disconnected meanwhile: its data went with it
        raise RelayError(404, "unknown_channel", "No such channel in this business.")
    log.info(
        "customer erased",
        extra={"channel_id": channel.id, "request_id": request_id, **row.relay_counts()},
    )
    return row


async def device_statuses(services: Services, erasure: ErasureRow) -> list[dict[str, Any]]:
    """Each device that had to erase: confirmed (when, what) or pending."""
    confirmed = {
        c.device_id: c
        for c in await services.store.erasure_confirmations(erasure.business_id, erasure.request_id)
    }
    statuses: list[dict[str, Any]] = []
    for device in await services.store.devices(erasure.business_id):
        confirmation = confirmed.get(device.id)
        if confirmation is not None:
            statuses.append(
                {
                    "device_name": confirmation.device_name,
                    "status": "confirmed",
                    "confirmed_at": iso_time(confirmation.confirmed_at_ms),
                    "counts": json.loads(confirmation.counts),
                }
            )
        elif device.created_at_ms <= erasure.erased_at_ms:  # later devices never held it
            statuses.append({"device_name": device.name, "status": "pending"})
    return statuses


def _customer_id(raw: str) -> str:
    customer_id = raw.removeprefix("/")  # a ``path`` parameter keeps its slash
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID:
        raise RelayError(
            422, "bad_request", f"A customer id has 1 to {MAX_CUSTOMER_ID} characters."
        )
    return customer_id


# The customer id is a ``path`` parameter: Viber ids are base64 and may hold a slash.
@delete("/channels/{channel_id:str}/customers/{customer_id:path}", status_code=200)
async def erase_one_customer(
    channel_id: FromPath[str],
    customer_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> ErasureResult:
    """Erase a customer at the relay; the result names the receipt. A customer the relay
    no longer holds is still erased on the devices (zero relay counts, same 200)."""
    customer = _customer_id(customer_id)
    channel = await services.owned_channel(principal.business_id, channel_id)
    row = await erase_customer(services, channel, customer)
    return ErasureResult(
        request_id=row.request_id,
        erased_at=iso_time(row.erased_at_ms),
        relay=row.relay_counts(),
        receipt_url=f"/v1/erasures/{row.request_id}",
    )


@post("/erasures/{request_id:str}/confirm", status_code=204)
async def confirm_erasure(
    request_id: FromPath[str],
    data: JSONBody[ErasureConfirmation],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> None:
    """A device reports what it erased; the first report of each device counts."""
    if len(data.counts) > _MAX_COUNTS or not all(
        _COUNT_NAME.match(name) and 0 <= value < 2**31 for name, value in data.counts.items()
    ):
        raise RelayError(
            422, "bad_request", "counts must map up to 20 lower-case names to numbers."
        )
    counts = msgspec.json.encode(dict(sorted(data.counts.items())))
    if not await services.store.confirm_erasure(
        principal.business_id, request_id, data.device_id, counts, now_ms()
    ):
        raise RelayError(404, "unknown_erasure", "No such erasure or device in this business.")


@get("/erasures/{request_id:str}")
async def show_receipt(
    request_id: FromPath[str],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> dict[str, Any]:
    """The signed receipt, as it stands now (devices confirm over time)."""
    row = await services.store.erasure(principal.business_id, request_id)
    if row is None:
        raise RelayError(404, "unknown_erasure", "No such erasure in this business.")
    body = {
        "receipt": "clientora-deletion-receipt/1",
        "request_id": row.request_id,
        "business_name": row.business_name,
        "channel": {"platform": row.platform, "name": row.channel_name},
        "erased_at": iso_time(row.erased_at_ms),
        "issued_at": iso_time(now_ms()),
        "relay": row.relay_counts(),
        "devices": await device_statuses(services, row),
    }
    return sign_receipt(services.keyring, body)


@get("/receipt-keys")
async def receipt_keys(services: NamedDependency[Services]) -> dict[str, Any]:
    """Public keys that verify receipts (public: anyone holding a receipt may check it)."""
    return {"keys": public_keys(services.keyring)}


@delete("/account", status_code=204)
async def delete_account(
    data: JSONBody[AccountDeletion],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> None:
    """Erase the whole business after re-checking the password; every session ends."""
    await recheck_password(services, principal, data.password, "The password is wrong.")
    for channel in await services.store.channels(principal.business_id):
        services.directory.remove(channel.id)
    await services.store.delete_business(principal.business_id)
    log.info("account deleted", extra={"business_id": principal.business_id})


def erasure_router() -> Router:
    return Router(
        "/v1",
        route_handlers=[
            erase_one_customer,
            confirm_erasure,
            show_receipt,
            receipt_keys,
            delete_account,
        ],
        dependencies={"principal": Provide(provide_principal)},
    )


# ---- Meta's data-deletion callback (platform-apis.md §7) ---------------------------------


def _unb64url(part: str) -> bytes:
    part = part.rstrip("=")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parse_signed_request(signed: str | None, app_secret: str) -> str:
    """The ``user_id`` of a ``signed_request``, verified before its payload is read.

    Malformed input is a 400; a signature that does not match the app secret is a 403.
    """
    if not app_secret:
        raise RelayError(403, "bad_signature", "This relay has no Meta app secret to verify with.")
    sig_part, _, payload_part = (signed or "").strip().partition(".")
    if not (_B64URL.match(sig_part) and _B64URL.match(payload_part)):
        raise RelayError(400, "bad_request", "signed_request must be two base64url parts.")
    try:
        signature = _unb64url(sig_part)
    except (binascii.Error, ValueError):
        raise RelayError(
            400, "bad_request", "signed_request's signature is not base64url."
        ) from None
    expected = hmac.new(app_secret.encode(), payload_part.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise RelayError(403, "bad_signature", "signed_request's signature does not match.")
    try:
        data = json.loads(_unb64url(payload_part))
    except (binascii.Error, ValueError):
        raise RelayError(400, "bad_request", "signed_request's payload is not JSON.") from None
    if not isinstance(data, dict):
        raise RelayError(400, "bad_request", "signed_request's payload is not an object.")
    if str(data.get("algorithm", "")).upper() != "HMAC-SHA256":
        raise RelayError(400, "bad_algorithm", "signed_request must use HMAC-SHA256.")
    user_id = data.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_CUSTOMER_ID:
        raise RelayError(400, "bad_request", "signed_request names no user_id.")
    return user_id


@post("/deletion", status_code=200)
async def meta_deletion(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, str]:
    """Meta's data-deletion callback: verify, erase everywhere the id appears, answer
    with the status page's address and the confirmation code."""
    try:
        form = await request.form()
    except Exception:  # any unreadable form is the sender's fault
        raise RelayError(400, "bad_request", "Expected a form with signed_request.") from None
    raw = form.get("signed_request")
    app_secret = services.settings.meta_app_secret
    user_id = parse_signed_request(raw if isinstance(raw, str) else None, app_secret)
    # The code is derived from the request's own (verified) signature, so a replay of
    # a captured request finds its first answer and erases nothing again.
    signature = str(raw).strip().partition(".")[0]
    code = hmac.new(
        app_secret.encode(), b"deletion-code:" + signature.encode(), hashlib.sha256
    ).hexdigest()[:20]
    base = services.settings.public_url.rstrip("/")
    if await services.store.deletion_request(code) is not None:
        raise RelayError(
            409,
            "replayed",
            f"This deletion request was received already; its status is at {base}/deletion/{code}.",
        )
    received = now_ms()
    erased: list[ErasureRow] = []
    for channel in await services.store.channels_with_customer(user_id, META_PLATFORMS):
        try:
            erased.append(await erase_customer(services, channel, user_id, code))
        except RelayError:  # disconnected meanwhile: its events went with it
            continue
    await services.store.add_deletion_request(
        DeletionRequestRow(
            code=code,
            received_at_ms=received,
            channels=len(erased),
            events=sum(row.events for row in erased),
        )
    )
    log.info("meta deletion request", extra={"code": code, "channels": len(erased)})
    return {"url": f"{base}/deletion/{code}", "confirmation_code": code}


def meta_deletion_router() -> Router:
    return Router("/webhooks/meta", route_handlers=[meta_deletion])
