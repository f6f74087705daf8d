"""The AI gateway and usage limits: OpenAI-compatible, metered, refused over the plan."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from common.events import UsageWarning
from relay.app import create_app
from tests.conftest import PAGE_TOKEN, relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.openai import Delay, Error, FakeOpenAI, Reply, ServedOpenAI, serve_fake_openai
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import Account, messenger_text, open_stream, post_meta, sign_up

PLANS = json.dumps({"small": {"outbound_messages": 5, "ai_tokens": 1000, "ai_cost_usd": 0}})


@pytest.fixture
def upstream() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(api_key="operator-secret-key")) as served:
        yield served


@pytest.fixture
def metered_relay(
    tmp_path: Path, upstream: ServedOpenAI, fake_graph: tuple[FakeGraph, ServedApp]
) -> Iterator[ServedApp]:
    """A relay with an AI upstream and a small plan."""
    settings = relay_settings(
        tmp_path,
        graph_url=f"{fake_graph[1].url}/{GRAPH_VERSION}",
        ai_upstream_url=upstream.base_url,
        ai_upstream_key="operator-secret-key",
        ai_timeout_s=1.0,
        plans=PLANS,
        default_plan="small",
    )
    with serve_app(create_app(settings)) as served:
        yield served


def _client(relay: ServedApp, account: Account) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{relay.url}/ai/v1", api_key=account.token, max_retries=0)


def _usage(account: Account) -> dict[str, float]:
    with account.client() as c:
        report = c.get("/v1/usage", params={"group": "metric"}).json()
    return report["rows"][0] if report["rows"] else {}


async def test_chat_through_the_gateway_is_forwarded_and_metered(
    metered_relay: ServedApp, upstream: ServedOpenAI
) -> None:
    """The session token works as an API key; the upstream sees only the operator's key."""
    account = sign_up(metered_relay.url)
    upstream.fake.push(Reply("Përshëndetje!", usage=(120, 30)))
    async with _client(metered_relay, account) as client:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Tung"}]
        )
    assert answer.choices[0].message.content == "Përshëndetje!"
    (request,) = upstream.fake.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer operator-secret-key"
    assert account.token not in upstream.fake.seen_text
    usage = _usage(account)
    assert usage["prompt_tokens"] == 120 and usage["completion_tokens"] == 30
    assert usage["ai_requests"] == 1
    assert usage["cost_usd"] == pytest.approx((120 * 0.15 + 30 * 0.6) / 1e6)


async def test_streamed_chat_is_metered_from_the_final_usage_chunk(
    metered_relay: ServedApp, upstream: ServedOpenAI
) -> None:
    """A streamed answer arrives in pieces and its tokens are still counted."""
    account = sign_up(metered_relay.url)
    upstream.fake.push(Reply("Jemi hapur deri në 22:00.", usage=(80, 12)))
    async with _client(metered_relay, account) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Orari?"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Jemi hapur deri në 22:00."
    usage = _usage(account)
    assert usage["prompt_tokens"] == 80 and usage["completion_tokens"] == 12


async def test_embeddings_are_forwarded(metered_relay: ServedApp, upstream: ServedOpenAI) -> None:
    """Embeddings go through the gateway with any encoding the client asks for."""
    account = sign_up(metered_relay.url)
    async with _client(metered_relay, account) as client:
        result = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == upstream.fake.embedding_dims
    assert _usage(account)["ai_requests"] == 1


async def test_over_the_token_limit_nothing_is_forwarded(
    metered_relay: ServedApp, upstream: ServedOpenAI
) -> None:
    """Once the month's tokens are used, calls are refused before reaching the upstream."""
    account = sign_up(metered_relay.url)
    upstream.fake.push(Reply("ok", usage=(900, 200)))
    async with _client(metered_relay, account) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "y"}]
            )
    assert "limit" in str(refused.value) and "resets" in str(refused.value)
    assert len(upstream.fake.requests_to("/v1/chat/completions")) == 1
    async with open_stream(account) as stream:
        frames = await stream.events(2)
    warnings = [f.event for f in frames if isinstance(f.event, UsageWarning)]
    # 1,100 of 1,000 tokens crosses 80 % and 100 % in one call: one warning for each level.
    assert [(w.metric, w.used, w.limit, w.share) for w in warnings] == [
        ("ai_tokens", 1100, 1000, 1.1)
    ] * 2


async def test_upstream_errors_and_timeouts_are_clear(
    metered_relay: ServedApp, upstream: ServedOpenAI
) -> None:
    """An upstream 500 passes through OpenAI-shaped; a hang becomes a 504 time-out."""
    account = sign_up(metered_relay.url)
    upstream.fake.push(Error(500), Delay(5))
    async with _client(metered_relay, account) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(openai.APIStatusError) as timed_out:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
    assert timed_out.value.status_code == 504


def test_bad_requests_and_tokens_are_refused(
    metered_relay: ServedApp, upstream: ServedOpenAI
) -> None:
    """Malformed bodies, missing fields and unknown tokens get OpenAI-style 4xx answers."""
    account = sign_up(metered_relay.url)
    url = f"{metered_relay.url}/ai/v1/chat/completions"
    r = httpx.post(url, content=b"{oops", headers=account.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    r = httpx.post(url, json={"model": "gpt-4o-mini", "messages": []}, headers=account.headers)
    assert r.status_code == 400
    r = httpx.post(
        url,
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": "Bearer nope"},
    )
    assert r.status_code == 401 and "message" in r.json()["error"]
    assert upstream.fake.requests_to("/v1/chat/completions") == []


def test_usage_counts_are_exact_under_concurrency(
    metered_relay: ServedApp, fake_graph: tuple[FakeGraph, ServedApp]
) -> None:
    """Parallel inbound messages and sends are counted exactly, and the plan's limit holds."""
    account = sign_up(metered_relay.url)
    channel = account.connect(platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN)
    now = time.time_ns() // 1_000_000
    bodies = [messenger_text("PAGE1", f"U{i}", f"m{i}", "hi", now) for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda b: post_meta(metered_relay.url, b).status_code, bodies)) == {200}

    def send(i: int) -> int:
        return account.send(channel["id"], recipient_id=f"U{i}", text="hello").status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(12)))
    usage = _usage(account)
    assert usage["inbound_messages"] == 40
    sends = [r for r in fake_graph[0].requests if r.method == "POST"]  # not the paste's read
    assert usage["outbound_manual"] == codes.count(200) == len(sends)
    assert 5 <= codes.count(200) <= 12 and codes.count(429) == 12 - codes.count(200)
    r = account.send(channel["id"], recipient_id="U1", text="more")
    assert r.status_code == 429
    error = r.json()["error"]
    assert error["code"] == "quota_exceeded" and error["limit"] == 5 and error["resets_on"]


def test_gateway_is_off_without_an_upstream(relay: ServedApp) -> None:
    """Without an AI upstream configured the gateway says so plainly."""
    account = sign_up(relay.url)
    r = httpx.post(
        f"{relay.url}/ai/v1/chat/completions",
        headers=account.headers,
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "gateway_disabled"
