"""Schemathesis against the relay's own OpenAPI schema: every documented operation, fed
inputs generated from the schema (signed in and not), never answers with a server error."""

from __future__ import annotations

import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from tests.fakes.server import ServedApp
from tests.relay_helpers import sign_up

#: Inputs tried per operation; with ~40 operations the whole run stays near a minute.
EXAMPLES = 40


def _server_error(response: httpx.Response) -> str | None:
    """What is wrong with ``response``: a 500, or a 5xx that is not one of the relay's
    typed upstream answers (502/503/504 naming what failed)."""
    if response.status_code < 500:
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "internal"
    if response.status_code == 500 or code == "internal":
        return f"{response.status_code} {response.text[:200]}"
    return None


def test_no_operation_answers_a_server_error(relay: ServedApp) -> None:
    """Generated requests to every operation of /docs/openapi.json, half with a session:
    none answers 500, and most get past authentication."""
    schema = schemathesis.openapi.from_url(f"{relay.url}/docs/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the schema itself must be valid
        operations.append(result.ok())
    assert len(operations) >= 30, [op.label for op in operations]
    failures: list[str] = []
    tried: dict[str, int] = {}
    started = time.monotonic()

    with httpx.Client(base_url=relay.url, timeout=30) as http:
        for operation in operations:
            tried[operation.label] = 0
            # A fresh session each: probing sign-out or account deletion ends the old one.
            token = sign_up(relay.url).token
            _probe(operation, http, relay.url, token, tried, failures)()
    elapsed = time.monotonic() - started
    statuses = {k: v for k, v in tried.items() if k.startswith("status ")}
    requests = sum(statuses.values())
    print(f"schemathesis: {len(operations)} operations, {requests} requests, {elapsed:.0f} s")
    print(sorted(statuses.items()))
    assert failures == []
    assert statuses.get("status 401", 0) < requests * 0.7


def _probe(
    operation: Any,
    http: httpx.Client,
    base_url: str,
    token: str,
    tried: dict[str, int],
    failures: list[str],
) -> Any:
    """A Hypothesis test of one operation: cases from its schema, signed in or not."""
    label = operation.label

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), signed_in=st.booleans())
    def probe(case: Any, signed_in: bool) -> None:
        tried[label] += 1
        kwargs = case.as_transport_kwargs(base_url=base_url)
        headers = dict(kwargs.get("headers") or {})
        if signed_in:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = http.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=headers,
                content=_body(kwargs),
            )
        except httpx.TransportError as exc:
            failures.append(f"{label}: connection failed ({exc})")
            return
        tried[f"status {response.status_code}"] = tried.get(f"status {response.status_code}", 0) + 1
        problem = _server_error(response)
        if problem:
            failures.append(f"{label}: {problem}")

    return probe


def _body(kwargs: dict[str, Any]) -> bytes | None:
    if "json" in kwargs:
        import json

        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("content") or kwargs.get("data")
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes):
        return data
    return None
