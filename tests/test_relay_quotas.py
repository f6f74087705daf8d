"""Quotas hold under concurrency: a call's expected use is reserved before it runs, and
the AI gateway forwards only models the plan allows and the relay has a price for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from relay.app import create_app
from tests.conftest import relay_settings
from tests.fakes.openai import Delay, FakeOpenAI, Reply, ServedOpenAI, serve_fake_openai
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import Account, sign_up

PLANS = json.dumps(
    {
        "small": {"outbound_messages": 5, "ai_tokens": 1000, "ai_cost_usd": 0},
        "mini": {"ai_tokens": 0, "ai_cost_usd": 0, "models": ["gpt-4o-mini"]},
    }
)


@pytest.fixture
def upstream() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(api_key="operator-key")) as served:
        yield served


def _relay(tmp_path: Path, upstream: ServedOpenAI, plan: str) -> Iterator[ServedApp]:
    settings = relay_settings(
        tmp_path,
        ai_upstream_url=upstream.base_url,
        ai_upstream_key="operator-key",
        ai_timeout_s=5.0,
        plans=PLANS,
        default_plan=plan,
    )
    with serve_app(create_app(settings)) as served:
        yield served


@pytest.fixture
def small(tmp_path: Path, upstream: ServedOpenAI) -> Iterator[ServedApp]:
    """A relay whose plan allows 1,000 AI tokens a month."""
    yield from _relay(tmp_path, upstream, "small")


@pytest.fixture
def mini(tmp_path: Path, upstream: ServedOpenAI) -> Iterator[ServedApp]:
    """A relay whose plan allows one model only."""
    yield from _relay(tmp_path, upstream, "mini")


def _client(relay: ServedApp, account: Account) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{relay.url}/ai/v1", api_key=account.token, max_retries=0)


async def test_concurrent_ai_calls_cannot_spend_past_the_plan(
    small: ServedApp, upstream: ServedOpenAI
) -> None:
    """Eight calls at once, each allowed 190 completion tokens, against 1,000 tokens: only
    as many as fit are forwarded, and the month's use stays within the plan."""
    account = sign_up(small.url)
    upstream.fake.push(*[Delay(0.5, Reply("ok", usage=(10, 190)))] * 8)

    async def call(client: openai.AsyncOpenAI) -> bool:
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], max_tokens=190
            )
        except openai.RateLimitError:
            return False
        return True

    async with _client(small, account) as client:
        done = await asyncio.gather(*(call(client) for _ in range(8)))
    forwarded = len(upstream.fake.requests_to("/v1/chat/completions"))
    assert 1 <= forwarded == done.count(True) < 8
    with account.client() as c:
        month = c.get("/v1/usage").json()["month"]
    assert month["ai_tokens"] == 200 * forwarded <= 1000


def test_a_model_without_a_price_is_refused(small: ServedApp, upstream: ServedOpenAI) -> None:
    """A model missing from the price table would be billed at nothing: it is refused before
    anything is forwarded."""
    account = sign_up(small.url)
    r = httpx.post(
        f"{small.url}/ai/v1/chat/completions",
        headers=account.headers,
        json={"model": "gpt-unpriced", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"
    assert upstream.fake.requests_to("/v1/chat/completions") == []


def test_a_plan_lists_the_models_it_allows(mini: ServedApp, upstream: ServedOpenAI) -> None:
    """A plan with a model list forwards those models only, priced or not elsewhere."""
    account = sign_up(mini.url)
    url = f"{mini.url}/ai/v1/chat/completions"
    messages = [{"role": "user", "content": "x"}]
    r = httpx.post(url, headers=account.headers, json={"model": "gpt-4o", "messages": messages})
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"
    upstream.fake.push(Reply("ok", usage=(5, 5)))
    r = httpx.post(
        url, headers=account.headers, json={"model": "gpt-4o-mini", "messages": messages}
    )
    assert r.status_code == 200, r.text
    assert len(upstream.fake.requests_to("/v1/chat/completions")) == 1
