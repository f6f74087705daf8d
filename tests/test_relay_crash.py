"""A relay killed in the middle of a webhook burst keeps every webhook it answered 200."""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common.events import MessageReceived
from common.protocol import EventFrame
from relay.webhooks.signatures import sign_meta
from tests.bench._relay_proc import PAGE_ID, ServerProcess, relay_process, signed_up_with_page
from tests.relay_helpers import APP_SECRET, Account, messenger_text, open_stream

CLIENTS = 8
KILL_AFTER = 300  # answered webhooks before the SIGKILL


@dataclass
class Burst:
    """What the platform side saw: every body it sent, and which were answered 200."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)


def _body(mid: str) -> bytes:
    return json.dumps(messenger_text(PAGE_ID, "customer-1", mid, f"order {mid}")).encode()


async def _post(client: httpx.AsyncClient, url: str, body: bytes) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign_meta(body, APP_SECRET),
    }
    response = await client.post(f"{url}/webhooks/meta", content=body, headers=headers)
    return response.status_code


async def _burst_until_killed(relay: ServerProcess) -> Burst:
    """CLIENTS connections post webhooks back to back; the relay is SIGKILLed mid-burst."""
    burst = Burst()
    killed = asyncio.Event()

    async def client(index: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for n in range(100_000):
                mid = f"m.{index}.{n}"
                burst.bodies[mid] = _body(mid)
                try:
                    status = await _post(http, relay.url, burst.bodies[mid])
                except httpx.TransportError:
                    burst.unanswered.add(mid)
                    return
                assert status == 200
                burst.answered.add(mid)
                if len(burst.answered) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    relay.kill()  # no shutdown code runs: the other clients are mid-request

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return burst


async def _stored(account: Account, cursor: int) -> tuple[list[str], int]:
    """The mids of every message event after ``cursor``, read from a device stream, and
    the head; acknowledged as a device does."""
    mids: list[str] = []
    async with open_stream(account, cursor=cursor) as stream:
        head, seq = stream.welcome.head, cursor
        while seq < head:
            frame = await stream.frame()
            if not isinstance(frame, EventFrame):
                continue
            seq = frame.seq
            if isinstance(frame.event, MessageReceived) and frame.event.platform_id:
                mids.append(frame.event.platform_id)
            if seq % 256 == 0 or seq == head:
                await stream.ack(seq)
    return mids, head


async def _retry(url: str, bodies: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as http:
        return [await _post(http, url, body) for body in bodies]


def test_sigkill_mid_burst_loses_no_answered_webhook_and_retries_stay_single(
    tmp_path: Path,
) -> None:
    """Every webhook answered 200 before a SIGKILL is on the stream after a restart, once,
    and the platform's retries of answered and unanswered webhooks store nothing twice."""
    relay = relay_process(tmp_path)
    relay.start()
    try:
        account = signed_up_with_page(relay.url)
        burst = asyncio.run(_burst_until_killed(relay))
        assert len(burst.answered) >= KILL_AFTER
        assert burst.unanswered, "every client ends on the dead connection"

        relay.start()  # same database, fresh process
        account.base_url = relay.url
        before, head = asyncio.run(_stored(account, 0))
        assert burst.answered <= set(before)
        assert set(before) <= burst.answered | burst.unanswered
        assert not [m for m, n in collections.Counter(before).items() if n > 1]

        # Meta retries whatever it was not answered for, and sometimes what it was.
        retried = sorted(burst.unanswered) + sorted(burst.answered)[:50]
        statuses = asyncio.run(_retry(relay.url, [burst.bodies[m] for m in retried]))
        assert statuses == [200] * len(retried)

        after, _ = asyncio.run(_stored(account, head))
        assert sorted(after) == sorted(burst.unanswered - set(before))
    finally:
        relay.stop()
