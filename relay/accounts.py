"""Sign-up, login, logout, password change and device registration."""

from __future__ import annotations

import re

from litestar import Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import JSONBody

from common.protocol import (
    MIN_PASSWORD_LENGTH,
    DeviceInfo,
    Login,
    PasswordChange,
    RegisterDevice,
    Session,
    SignUp,
)
from relay.auth import Principal, provide_principal
from relay.crypto import HasherBusy, hash_token, new_token
from relay.errors import RelayError
from relay.services import Services, now_ms
from relay.store import Conflict, UserRow

__all__ = ["accounts_router", "check_password", "create_account", "recheck_password"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Per account: wrong passwords allowed before checks slow down, the first pause (doubled
# with each further failure), the longest, and how long a quiet account takes to be forgiven.
_FREE_FAILURES = 4
_FIRST_DELAY_MS = 2_000
_MAX_DELAY_MS = 15 * 60_000
_FORGET_MS = 24 * 3600_000


def _delay_ms(failures: int) -> int:
    if failures <= _FREE_FAILURES:
        return 0
    return min(_MAX_DELAY_MS, _FIRST_DELAY_MS << min(failures - _FREE_FAILURES - 1, 20))


async def check_password(services: Services, email: str, password: str, encoded: str) -> bool:
    """Verify ``password`` for the account named by ``email`` (known or not). Failures are
    counted per account in the store, so the back-off holds across processes and
    restarts; while it lasts the check is refused with 429, whoever asks."""
    key = hash_token(f"password:{email.strip().lower()}")
    now = now_ms()
    blocked_until = await services.store.password_blocked_until(key)
    if blocked_until > now:
        raise _too_many(blocked_until - now)
    try:
        ok = await services.hasher.verify_async(password, encoded)
    except HasherBusy:
        raise _busy() from None
    if ok:
        await services.store.clear_password_failures(key)
        return True
    await services.store.add_password_failure(key, now, _FORGET_MS, _delay_ms)
    return False


async def recheck_password(
    services: Services, principal: Principal, password: str, wrong: str
) -> None:
    """Ask the signed-in user's password again before a step that cannot be undone; a
    wrong one is refused with 403 ``bad_credentials`` saying ``wrong``."""
    user = await services.store.user(principal.business_id, principal.user_id)
    if user is None or not await check_password(services, user.email, password, user.password_hash):
        raise RelayError(403, "bad_credentials", wrong)


async def _hash(services: Services, password: str) -> str:
    try:
        return await services.hasher.hash_async(password)
    except HasherBusy:
        raise _busy() from None


def _busy() -> RelayError:
    return RelayError(
        503, "busy", "The relay is checking many passwords; try again.", retry_after_s=1
    )


def _too_many(wait_ms: int) -> RelayError:
    seconds = max(1, -(-wait_ms // 1000))
    return RelayError(
        429,
        "too_many_attempts",
        f"Too many wrong passwords for this account; try again in {seconds} s.",
        retry_after_s=seconds,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RelayError(
            422, "weak_password", f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters."
        )


async def create_account(services: Services, data: SignUp) -> UserRow:
    """Create a business and its first user (sign-up and the admin command share this)."""
    email = data.email.strip().lower()
    if not _EMAIL.match(email):
        raise RelayError(422, "bad_email", "That e-mail address does not look right.")
    if not data.business_name.strip() or not data.name.strip():
        raise RelayError(422, "bad_request", "Give the business's name and your name.")
    _check_password(data.password)
    password_hash = await _hash(services, data.password)
    try:
        return await services.store.create_business(
            data.business_name.strip(), data.name.strip(), email, password_hash
        )
    except Conflict as exc:
        raise RelayError(409, "email_taken", str(exc)) from None


async def _new_session(services: Services, user: UserRow) -> Session:
    token = new_token()
    expires = now_ms() + services.settings.session_ttl_s * 1000
    await services.store.create_session(hash_token(token), user, expires)
    return Session(
        token=token, expires_at_ms=expires, business_id=user.business_id, user_id=user.id
    )


@post("/signup", status_code=201)
async def signup(data: JSONBody[SignUp], services: NamedDependency[Services]) -> Session:
    if not services.settings.signup_enabled:
        raise RelayError(403, "signup_disabled", "Sign-up is turned off on this relay.")
    user = await create_account(services, data)
    return await _new_session(services, user)


@post("/login", status_code=200)
async def login(data: JSONBody[Login], services: NamedDependency[Services]) -> Session:
    user = await services.store.user_by_email(data.email)
    # Verify against a real hash even for an unknown e-mail, so timing does not tell.
    encoded = user.password_hash if user else _DUMMY_HASH
    ok = await check_password(services, data.email, data.password, encoded)
    if user is None or not ok:
        raise RelayError(401, "bad_credentials", "The e-mail or password is wrong.")
    return await _new_session(services, user)


@post("/logout", status_code=204, dependencies={"principal": Provide(provide_principal)})
async def logout(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> None:
    await services.store.revoke_session(principal.token_hash)


@post("/password", status_code=204, dependencies={"principal": Provide(provide_principal)})
async def change_password(
    data: JSONBody[PasswordChange],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> None:
    await recheck_password(
        services, principal, data.current_password, "The current password is wrong."
    )
    _check_password(data.new_password)
    encoded = await _hash(services, data.new_password)
    await services.store.set_password(principal.business_id, principal.user_id, encoded)
    # Other sessions end: a password change is often a response to a leak.
    await services.store.revoke_user_sessions(principal.user_id, keep=principal.token_hash)


@post("/devices", status_code=201, dependencies={"principal": Provide(provide_principal)})
async def register_device(
    data: JSONBody[RegisterDevice],
    principal: NamedDependency[Principal],
    services: NamedDependency[Services],
) -> DeviceInfo:
    name = data.name.strip()[:100] or "Desktop"
    device = await services.store.create_device(principal.business_id, name)
    return DeviceInfo(
        id=device.id, name=device.name, cursor=device.cursor, created_at_ms=device.created_at_ms
    )


@get("/devices", dependencies={"principal": Provide(provide_principal)})
async def list_devices(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> list[DeviceInfo]:
    return [
        DeviceInfo(id=d.id, name=d.name, cursor=d.cursor, created_at_ms=d.created_at_ms)
        for d in await services.store.devices(principal.business_id)
    ]


@delete(
    "/sessions/current", status_code=204, dependencies={"principal": Provide(provide_principal)}
)
async def end_session(
    principal: NamedDependency[Principal], services: NamedDependency[Services]
) -> None:
    await services.store.revoke_session(principal.token_hash)


# A fixed hash of a random password: login timing is the same for unknown e-mails.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$yFGmilutzxgWy1t8IYxxNg"
    "$IcI6HU5Wg62f7Onx2hSzm1R40Ml3vfaxY33NkgDjilI"
)


def accounts_router(rate_per_minute: int) -> Router:
    limit = RateLimitConfig(rate_limit=("minute", rate_per_minute), exclude=["/v1/devices"])
    throttled = Router("/", route_handlers=[signup, login], middleware=[limit.middleware])
    return Router(
        "/v1",
        route_handlers=[
            throttled,
            logout,
            change_password,
            register_device,
            list_devices,
            end_session,
        ],
    )
