"""Meta webhook bodies (Messenger, Instagram, WhatsApp Cloud) turned into typed events.

Every item either becomes one event or adds one :class:`Ignored` to the result, so
``len(events) + len(ignored)`` counts what the body held. Items are ignored only when
they belong to no account of ours (an unknown Page, account or number) or to no
conversation and no account (a Page feed or comments change); everything else of a known
account makes an event. The per-platform readers are :mod:`relay.webhooks.messenger`
(with :mod:`relay.webhooks.instagram`) and :mod:`relay.webhooks.whatsapp`.
"""

from __future__ import annotations

import time

from relay.webhooks.fast import fast_meta
from relay.webhooks.messenger import messaging_entries
from relay.webhooks.parsing import (
    AccountResolver,
    ChannelResolver,
    Ignored,
    ParseResult,
    PayloadError,
    decode_object,
    label,
    no_accounts,
)
from relay.webhooks.whatsapp import whatsapp_entries

__all__ = ["ChannelResolver", "ParseResult", "PayloadError", "parse_meta", "parse_meta_general"]


def parse_meta(
    body: bytes,
    resolve: ChannelResolver,
    received_ms: int | None = None,
    accounts: AccountResolver = no_accounts,
) -> ParseResult:
    """Normalise one verified Meta webhook body; raises only :class:`PayloadError`.

    ``received_ms`` (default: now) stands in for timestamps that are missing or unreadable;
    ``accounts`` finds the channels of a WhatsApp Business Account (account-level fields).
    The commonest shapes take a typed fast path (:mod:`relay.webhooks.fast`) to the same
    events the general parser makes.
    """
    return fast_meta(body, resolve) or parse_meta_general(body, resolve, received_ms, accounts)


def parse_meta_general(
    body: bytes,
    resolve: ChannelResolver,
    received_ms: int | None = None,
    accounts: AccountResolver = no_accounts,
) -> ParseResult:
    """:func:`parse_meta` without the fast path: reads every shape, field by field."""
    root = decode_object(body)
    kind = root.get("object")
    entries = root.get("entry")
    if not isinstance(kind, str) or not isinstance(entries, list):
        raise PayloadError("Meta body has no 'object' string or no 'entry' list")
    now = time.time_ns() // 1_000_000 if received_ms is None else received_ms
    result = ParseResult(events=[], ignored=[])
    if kind == "page":
        messaging_entries(entries, "messenger", resolve, now, result)
    elif kind == "instagram":
        messaging_entries(entries, "instagram", resolve, now, result)
    elif kind == "whatsapp_business_account":
        whatsapp_entries(entries, resolve, now, result, accounts)
    else:
        result.ignored.append(Ignored("meta", "unknown object", label(kind)))
    return result
