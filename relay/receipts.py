"""Signed deletion receipts: Ed25519 keys derived from the master keys, canonical JSON.

A receipt is a JSON object; its ``signature`` is Ed25519 over the canonical JSON of
every other member (keys sorted, no spaces, UTF-8: RFC 8785 for the strings, integers
and nulls a receipt holds). The signing key is derived with HKDF from the master key
named by ``key_id``, so the relay stores no extra secret and anyone can verify with
the public keys from ``GET /v1/receipt-keys``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from relay.crypto import Keyring

__all__ = [
    "ALGORITHM",
    "canonical_json",
    "public_keys",
    "sign_receipt",
    "signing_key",
    "verify_receipt",
]

ALGORITHM = "Ed25519"
# Domain separation: the same master key also encrypts credentials (AES-GCM).
_INFO = b"clientora relay: deletion receipt signing key v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    """The bytes a receipt's signature covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_key(keyring: Keyring, key_id: str) -> Ed25519PrivateKey:
    """The receipt key derived from master key ``key_id`` (the same every time)."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        keyring.keys[key_id]
    )
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_keys(keyring: Keyring) -> list[dict[str, str]]:
    """Every receipt public key, the current one first: old receipts stay verifiable."""
    ids = [keyring.current, *sorted(k for k in keyring.keys if k != keyring.current)]
    return [
        {
            "key_id": key_id,
            "algorithm": ALGORITHM,
            "public_key": _b64(signing_key(keyring, key_id).public_key().public_bytes_raw()),
        }
        for key_id in ids
    ]


def sign_receipt(keyring: Keyring, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``key_id``, ``algorithm`` and ``signature`` added (current key)."""
    unsigned = {**body, "key_id": keyring.current, "algorithm": ALGORITHM}
    signature = signing_key(keyring, keyring.current).sign(canonical_json(unsigned))
    return {**unsigned, "signature": _b64(signature)}


def verify_receipt(receipt: dict[str, Any], public_key: str) -> bool:
    """True when ``receipt`` is unchanged since the holder of ``public_key`` signed it."""
    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    try:
        key = Ed25519PublicKey.from_public_bytes(_unb64(public_key))
        key.verify(_unb64(str(receipt.get("signature", ""))), canonical_json(unsigned))
    except (InvalidSignature, ValueError):
        return False
    return True
