"""Accounts, sessions and devices at the relay."""

from __future__ import annotations

import re

import httpx

from tests.fakes.server import ServedApp
from tests.relay_helpers import sign_up


def test_signup_login_logout_round_trip(relay: ServedApp) -> None:
    """A new owner can sign up, log in again, and a logged-out token stops working."""
    account = sign_up(relay.url, email="arta@example.com")
    with httpx.Client(base_url=relay.url) as c:
        r = c.post(
            "/v1/login", json={"email": "ARTA@example.com", "password": "correct horse battery"}
        )
        assert r.status_code == 200
        token = r.json()["token"]
        assert token != account.token
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/v1/devices", headers=auth).status_code == 200
        assert c.post("/v1/logout", headers=auth).status_code == 204
        r = c.get("/v1/devices", headers=auth)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"


def test_wrong_password_and_unknown_email_get_the_same_answer(relay: ServedApp) -> None:
    """Login failures do not reveal whether an e-mail has an account."""
    sign_up(relay.url, email="besa@example.com")
    wrong = httpx.post(
        f"{relay.url}/v1/login", json={"email": "besa@example.com", "password": "nope nope nope"}
    )
    unknown = httpx.post(
        f"{relay.url}/v1/login", json={"email": "who@example.com", "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_duplicate_email_and_weak_password_are_refused(relay: ServedApp) -> None:
    """Sign-up names the problem: a taken e-mail, a short password."""
    sign_up(relay.url, email="dardan@example.com")
    body = {
        "business_name": "B",
        "name": "D",
        "email": "dardan@example.com",
        "password": "long enough pw",
    }
    r = httpx.post(f"{relay.url}/v1/signup", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
    r = httpx.post(
        f"{relay.url}/v1/signup", json={**body, "email": "new@example.com", "password": "short"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"


def test_password_change_ends_other_sessions(relay: ServedApp) -> None:
    """After a password change the old password fails and other sessions are revoked."""
    account = sign_up(relay.url, email="era@example.com")
    with httpx.Client(base_url=relay.url) as c:
        other = c.post(
            "/v1/login", json={"email": "era@example.com", "password": "correct horse battery"}
        ).json()
        r = c.post(
            "/v1/password",
            headers=account.headers,
            json={
                "current_password": "correct horse battery",
                "new_password": "a new long password",
            },
        )
        assert r.status_code == 204
        assert (
            c.get("/v1/devices", headers={"Authorization": f"Bearer {other['token']}"}).status_code
            == 401
        )
        assert c.get("/v1/devices", headers=account.headers).status_code == 200
        assert (
            c.post(
                "/v1/login", json={"email": "era@example.com", "password": "correct horse battery"}
            ).status_code
            == 401
        )
        assert (
            c.post(
                "/v1/login", json={"email": "era@example.com", "password": "a new long password"}
            ).status_code
            == 200
        )


def test_devices_are_listed_per_business(relay: ServedApp) -> None:
    """Each business sees only its own devices."""
    a = sign_up(relay.url)
    b = sign_up(relay.url)
    with a.client() as c:
        ids = [d["id"] for d in c.get("/v1/devices").json()]
    assert ids == [a.device_id]
    assert b.device_id not in ids


def test_health_metrics_and_openapi_are_served(relay: ServedApp) -> None:
    """Operators get /healthz, /readyz, Prometheus metrics and the OpenAPI document."""
    assert httpx.get(f"{relay.url}/healthz").text == "ok"
    assert httpx.get(f"{relay.url}/readyz").json() == {"status": "ready"}
    sign_up(relay.url)
    metrics = httpx.get(f"{relay.url}/metrics").text
    # Litestar's request metrics counted the sign-up above, under our prefix and app name.
    assert re.search(
        r'^clientora_requests_total\{[^}]*app_name="clientora_relay"[^}]*method="POST"[^}]*\}'
        r" [1-9]",
        metrics,
        re.MULTILINE,
    ), metrics
    spec = httpx.get(f"{relay.url}/docs/openapi.json").json()
    assert "/v1/messages" in spec["paths"]
