"""Password checks per account: a growing back-off kept in the store (so it survives a
restart), on every route that checks a password, and a bound on hashes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from relay.app import create_app
from relay.crypto import HasherBusy, PasswordHasher
from tests.conftest import relay_settings
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import sign_up

PASSWORD = "correct horse battery"


@contextmanager
def _relay(tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(create_app(relay_settings(tmp_path))) as served:
        yield served


def _login(relay: ServedApp, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{relay.url}/v1/login", json={"email": email, "password": password})


def test_wrong_passwords_lock_the_account_even_across_a_restart(tmp_path: Path) -> None:
    """After four free failures the account is held back (429 with Retry-After, even for
    the right password), and a restarted relay still holds it back."""
    email = "owner@example.com"
    with _relay(tmp_path) as relay:
        sign_up(relay.url, email=email, password=PASSWORD)
        for _ in range(5):
            assert _login(relay, email, "wrong password!").status_code == 401
        held = _login(relay, email, PASSWORD)
        assert held.status_code == 429, held.text
        assert held.json()["error"]["code"] == "too_many_attempts"
        assert int(held.headers["retry-after"]) >= 1
    with _relay(tmp_path) as relay:
        assert _login(relay, email, PASSWORD).status_code == 429


def test_a_right_password_forgives_earlier_mistakes(tmp_path: Path) -> None:
    """Failures count in a streak: a successful login starts it again."""
    email = "owner@example.com"
    with _relay(tmp_path) as relay:
        sign_up(relay.url, email=email, password=PASSWORD)
        for _ in range(2):
            for _ in range(4):
                assert _login(relay, email, "wrong password!").status_code == 401
            assert _login(relay, email, PASSWORD).status_code == 200


def test_an_unknown_email_is_held_back_like_a_real_one(tmp_path: Path) -> None:
    """Guessing at an address nobody registered is limited the same way, so the answers do
    not tell which addresses exist."""
    with _relay(tmp_path) as relay:
        codes = [_login(relay, "nobody@example.com", "guess-guess").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_re_checking_the_password_to_change_it_is_limited(tmp_path: Path) -> None:
    """A stolen session cannot guess the current password either: the password-change
    route counts against the same account."""
    with _relay(tmp_path) as relay:
        account = sign_up(relay.url, email="owner@example.com", password=PASSWORD)
        with account.client() as c:
            body = {"current_password": "wrong password!", "new_password": "another long one"}
            codes = [c.post("/v1/password", json=body).status_code for _ in range(6)]
        assert codes == [403] * 5 + [429]
        assert _login(relay, "owner@example.com", PASSWORD).status_code == 429


async def test_password_hashes_at_once_are_bounded() -> None:
    """Past the running and waiting hashes it allows, the hasher turns callers away at once
    instead of queueing without end."""
    hasher = PasswordHasher(memory_kib=1024, iterations=1, max_concurrent=1, max_waiting=1)
    encoded = hasher.hash("a password")
    results = await asyncio.gather(
        *(hasher.verify_async("a password", encoded) for _ in range(3)), return_exceptions=True
    )
    assert results[:2] == [True, True]
    assert isinstance(results[2], HasherBusy)
    assert await hasher.verify_async("a password", encoded)
