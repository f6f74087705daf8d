"""Who is calling: the session token in ``Authorization: Bearer`` names a user and business."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from relay.crypto import hash_token
from relay.errors import RelayError
from relay.services import Services, now_ms

__all__ = ["Principal", "authenticate", "bearer_token"]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    business_id: str
    token_hash: str


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(services: Services, token: str | None) -> Principal:
    """The caller's principal, or a 401 that says what is wrong (never which token)."""
    if token is None:
        raise RelayError(401, "unauthorized", "Sign in first: this request has no session token.")
    token_hash = hash_token(token)
    session = await services.store.session(token_hash, now_ms())
    if session is None:
        raise RelayError(
            401, "unauthorized", "The session has expired or was signed out; sign in again."
        )
    return Principal(session.user_id, session.business_id, token_hash)


async def provide_principal(
    request: ASGIConnection[Any, Any, Any, Any], services: NamedDependency[Services]
) -> Principal:
    return await authenticate(services, bearer_token(request))
