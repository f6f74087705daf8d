"""send_with_retry: which failures are retried, how long it waits, and when it gives up."""

from __future__ import annotations

import random
import socket
from typing import Any

import httpx
import pytest

from relay.send import OutboundText, PlatformUrls, SendError, send_with_retry
from relay.send.errors import retry_after_seconds
from relay.send.retry import backoff_delay
from tests.fakes.graph import GRAPH_VERSION, FakeGraph, graph_error

TOKEN = "EAAGretrytoken0123456789abcdef"
PAGE_ID = "106540352242922"
PHONE_NUMBER_ID = "106540352242923"
CREDENTIALS = {"access_token": TOKEN}
OUT = OutboundText(platform="messenger", external_id=PAGE_ID, recipient_id="1254477", text="Hi")


class Sleeps:
    """Records the waits send_with_retry asks for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(scope="module")
def graph_fake() -> FakeGraph:
    return FakeGraph({TOKEN}, whatsapp_numbers={PHONE_NUMBER_ID})


@pytest.fixture
def closed_port_urls() -> PlatformUrls:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return PlatformUrls(graph=f"http://127.0.0.1:{port}/{GRAPH_VERSION}", viber="")


async def test_server_error_is_retried_until_success(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A 500 is retried after a short real wait and the second attempt's id is returned."""
    graph.fail_next(1, 500)
    message_id = await send_with_retry(http, urls, CREDENTIALS, OUT, base_delay_s=0.001)
    assert message_id.startswith("m_")
    assert len(graph.requests) == 2
    assert graph.requests[0].json == graph.requests[1].json


async def test_invalid_token_is_not_retried(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Error 190 fails at once: one request, no wait."""
    sleeps = Sleeps()
    graph.fail_next(1, 400, graph_error(190, "Invalid OAuth access token."))
    with pytest.raises(SendError) as caught:
        await send_with_retry(http, urls, CREDENTIALS, OUT, sleep=sleeps)
    assert caught.value.code == "token_invalid"
    assert len(graph.requests) == 1
    assert sleeps.delays == []


async def test_retry_after_is_honoured(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A throttled answer's Retry-After is the wait before the next attempt."""
    sleeps = Sleeps()
    graph.fail_next(1, 429, graph_error(613, "rate limit"), headers={"Retry-After": "3"})
    await send_with_retry(http, urls, CREDENTIALS, OUT, max_delay_s=8.0, sleep=sleeps)
    assert sleeps.delays == [3.0]
    assert len(graph.requests) == 2


async def test_retry_after_is_capped_at_max_delay(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A Retry-After longer than ``max_delay_s`` waits ``max_delay_s``."""
    sleeps = Sleeps()
    graph.fail_next(1, 429, graph_error(4, "app limit"), headers={"Retry-After": "120"})
    await send_with_retry(http, urls, CREDENTIALS, OUT, max_delay_s=0.5, sleep=sleeps)
    assert sleeps.delays == [0.5]


async def test_retry_after_is_honoured_with_a_real_wait(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """With the default sleep, a tiny Retry-After is waited out and the send succeeds."""
    graph.fail_next(1, 429, graph_error(130429, "Rate limit hit"), headers={"Retry-After": "0.01"})
    assert (await send_with_retry(http, urls, CREDENTIALS, OUT)).startswith("m_")
    assert len(graph.requests) == 2


async def test_gives_up_after_the_attempts_with_the_last_error(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """Transient failures stop after ``attempts`` requests and the last error is raised."""
    sleeps = Sleeps()
    graph.fail_next(5, 503)
    with pytest.raises(SendError) as caught:
        await send_with_retry(
            http, urls, CREDENTIALS, OUT, attempts=3, base_delay_s=0.25, sleep=sleeps
        )
    assert (caught.value.code, caught.value.transient) == ("platform_error", True)
    assert len(graph.requests) == 3
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.25
    assert 0 <= sleeps.delays[1] <= 0.5


async def test_whatsapp_throughput_limit_is_retried(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """WhatsApp's 130429 throughput limit is retried and the wamid returned."""
    sleeps = Sleeps()
    graph.fail_next(1, 400, graph_error(130429, "Rate limit hit"))
    out = OutboundText(
        platform="whatsapp", external_id=PHONE_NUMBER_ID, recipient_id="1650", text="Hi"
    )
    assert (await send_with_retry(http, urls, CREDENTIALS, out, sleep=sleeps)).startswith("wamid.")
    assert len(sleeps.delays) == 1


async def test_unreachable_platform_is_retried_then_reported(
    closed_port_urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A refused connection is a transient platform_error, retried, then raised."""
    sleeps = Sleeps()
    with pytest.raises(SendError) as caught:
        await send_with_retry(http, closed_port_urls, CREDENTIALS, OUT, attempts=2, sleep=sleeps)
    err = caught.value
    assert (err.code, err.transient, err.detail) == ("platform_error", True, "ConnectError")
    assert len(sleeps.delays) == 1
    assert TOKEN not in repr(err)


async def test_too_long_is_not_retried(
    graph: FakeGraph, urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """A text over the limit is refused once, with no request and no wait."""
    sleeps = Sleeps()
    out = OutboundText(platform="messenger", external_id=PAGE_ID, recipient_id="1", text="x" * 2001)
    with pytest.raises(SendError) as caught:
        await send_with_retry(http, urls, CREDENTIALS, out, sleep=sleeps)
    assert caught.value.code == "too_long"
    assert graph.requests == []
    assert sleeps.delays == []


async def test_attempts_below_one_is_a_programming_error(
    urls: PlatformUrls, http: httpx.AsyncClient
) -> None:
    """``attempts=0`` is rejected rather than silently sending nothing."""
    with pytest.raises(ValueError, match="attempts"):
        await send_with_retry(http, urls, CREDENTIALS, OUT, attempts=0)


@pytest.mark.parametrize("retry", range(12))
def test_backoff_is_full_jitter_under_the_cap(retry: int) -> None:
    """Each wait lies in [0, min(max, base * 2**retry)]."""
    rng = random.Random(retry)
    ceiling = min(8.0, 0.25 * 2**retry)
    delays: list[Any] = [
        backoff_delay(retry, base_delay_s=0.25, max_delay_s=8.0, rng=rng) for _ in range(200)
    ]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    assert max(delays) > ceiling / 2  # spread over the range, not pinned to one end


def test_backoff_prefers_retry_after_within_the_cap() -> None:
    """A Retry-After hint replaces the jitter, capped at ``max_delay_s``."""
    assert backoff_delay(0, base_delay_s=0.25, max_delay_s=8.0, retry_after_s=2.0) == 2.0
    assert backoff_delay(5, base_delay_s=0.25, max_delay_s=8.0, retry_after_s=60.0) == 8.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After is understood as delta seconds or as an HTTP date; junk is ignored."""
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    at = 1445412480.0  # that date as a Unix time
    assert retry_after_seconds(httpx.Headers({"Retry-After": "120"})) == 120.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), now=at - 30) == 30.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), now=at + 30) == 0.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None
