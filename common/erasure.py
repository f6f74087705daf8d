"""Erasing a customer on the wire: the relay's receipt, each device's confirmation, and
the hash by which a device recognises a customer the relay no longer names."""

from __future__ import annotations

import hashlib

import msgspec

__all__ = ["ErasureConfirmation", "ErasureResult", "customer_hash"]


class ErasureResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``DELETE /v1/channels/{id}/customers/{customer}`` did at the relay."""

    request_id: str
    erased_at: str
    relay: dict[str, int]
    receipt_url: str


class ErasureConfirmation(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/erasures/{request_id}/confirm``: a device erased the customer; ``counts``
    says what (``customer``, ``messages``, ``drafts``)."""

    device_id: str
    counts: dict[str, int]


def customer_hash(channel_id: str, customer_id: str) -> str:
    """``CustomerErased.customer_hash``: hex SHA-256 of ``"{channel_id}:{customer_id}"``."""
    return hashlib.sha256(f"{channel_id}:{customer_id}".encode()).hexdigest()
