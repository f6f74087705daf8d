"""Webhook signatures, checked over the raw body before anything parses it.

Comparisons are of bytes: ``hmac.compare_digest`` raises on ``str`` with non-ASCII
characters, and a header is whatever a sender put there, so a stray "é" must be a
plain mismatch (403), never an error (500).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["meta_signature_ok", "same_secret", "sign_meta", "sign_viber", "viber_signature_ok"]


def sign_meta(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def sign_viber(body: bytes, auth_token: str) -> str:
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two strings of any characters."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def meta_signature_ok(body: bytes, header: str | None, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the body with the app secret."""
    if not header or not app_secret:
        return False
    return same_secret(header.strip().lower(), sign_meta(body, app_secret))


def viber_signature_ok(body: bytes, header: str | None, auth_token: str) -> bool:
    """``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the body keyed by the bot token."""
    if not header or not auth_token:
        return False
    return same_secret(header.strip().lower(), sign_viber(body, auth_token))
