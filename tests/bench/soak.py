"""Soak: the relay under a steady load for minutes, memory and latency sampled.

The relay runs as its own process with a fake Graph API beside it. One event loop posts
unique signed Meta webhooks at ``--rate`` per second on a fixed schedule, ``--devices``
devices of the shop hold ``/v1/stream`` and acknowledge as they read, and replies are
sent through ``/v1/messages`` at ``--sends`` per second. The relay's resident memory is
read every few seconds. ``p99_ms`` runs from the moment a webhook was scheduled to the
moment the first device read its event (no coordinated omission). ``lost``: webhooks
answered 200 that some device never received; ``duplicated``: events a device received
more than once.

    python tests/bench/soak.py --minutes 5
    python tests/bench/soak.py --clients 1000 [--seconds 30]

``--clients N``: N concurrent stream clients on one relay process instead (N/10 shops
with 10 devices each; each webhook goes to one shop and fans out to its 10 devices):
memory idle, with every client connected, and at the end; p99 from schedule to frame
over every delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import websockets

from common.events import MessageReceived
from common.protocol import (
    SERVER_FRAME_DECODER,
    Ack,
    EventFrame,
    Hello,
    Ping,
    Pong,
    Welcome,
    encode,
)
from tests.bench._load import HttpConnection, WebhookFactory, percentile, run_fast
from tests.bench._relay_proc import PAGE_TOKEN, ServerProcess, relay_process
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.server import serve_app
from tests.relay_helpers import Account, messenger_text, sign_up, ws_url

ACK_EVERY = 16
CONNECTIONS = 16
SAMPLE_S = 5.0


class NowFactory(WebhookFactory):
    """Webhooks stamped now, so the messaging window is open for the replies."""

    def _template(self, page_id: str, text: str) -> bytes:
        now = time.time_ns() // 1_000_000
        payload = messenger_text(page_id, self._PSID, self._MID, text, now)
        return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Tally:
    scheduled: dict[str, float] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    refused: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seen: dict[str, Counter[str]] = field(default_factory=dict)  # device -> mid -> times
    sends_ok: int = 0
    sends_failed: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    broken: dict[str, str] = field(default_factory=dict)  # device -> why its stream ended

    async def until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``done()`` holds, re-checking whenever a device reads something."""
        deadline = time.monotonic() + timeout_s
        while not done() and (left := deadline - time.monotonic()) > 0:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _device(account: Account, device_id: str, tally: Tally, every: bool) -> None:
    """Hold a stream for ``device_id``: count each message, stamp latency, acknowledge."""
    try:
        await _hold(account, device_id, tally, every)
    except (OSError, websockets.WebSocketException, TimeoutError) as exc:
        tally.broken[device_id] = f"{type(exc).__name__}: {exc}"
        tally.changed.set()


async def _hold(account: Account, device_id: str, tally: Tally, every: bool) -> None:
    async with websockets.connect(
        ws_url(account.base_url),
        additional_headers=account.headers,
        compression=None,
        open_timeout=60,
    ) as ws:
        await ws.send(encode(Hello(device_id=device_id)).decode())
        msgspec.json.decode(await ws.recv(), type=Welcome)
        seen = tally.seen.setdefault(device_id, Counter())
        tally.changed.set()
        unacked = 0
        while True:
            frame = SERVER_FRAME_DECODER.decode(await ws.recv())
            if isinstance(frame, Ping):  # a device answers, or the relay hangs up on it
                await ws.send(encode(Pong(nonce=frame.nonce)).decode())
            if not isinstance(frame, EventFrame):
                continue
            event = frame.event
            if isinstance(event, MessageReceived) and event.platform_id:
                mid = event.platform_id
                seen[mid] += 1
                now = time.perf_counter()
                if every and mid in tally.scheduled:
                    tally.latencies.append(now - tally.scheduled[mid])
                elif mid not in tally.first_seen and mid in tally.scheduled:
                    tally.first_seen[mid] = now
                    tally.latencies.append(now - tally.scheduled[mid])
                tally.changed.set()
            unacked += 1
            if unacked >= ACK_EVERY:
                await ws.send(encode(Ack(seq=frame.seq)).decode())
                unacked = 0


async def _post(
    pool: asyncio.Queue[HttpConnection], port: int, raw: bytes, mid: str, tally: Tally
) -> None:
    conn = await pool.get()
    try:
        status = await conn.request(raw)
    except ConnectionError:
        tally.refused += 1
        conn = await HttpConnection.open("127.0.0.1", port)
    else:
        if status == 200:
            tally.accepted.add(mid)
        else:
            tally.refused += 1
    finally:
        pool.put_nowait(conn)


async def _webhooks(port: int, pages: list[str], rate: float, seconds: float, tally: Tally) -> None:
    """``rate × seconds`` webhooks on a fixed schedule, round-robin over ``pages``."""
    factories = [NowFactory(f"127.0.0.1:{port}", page, body_bytes=600) for page in pages]
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await HttpConnection.open("127.0.0.1", port))
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    for i in range(round(rate * seconds)):
        mid = f"soak.{i}"
        raw = factories[i % len(factories)].request(f"soak-customer-{i % 20}", mid)
        scheduled = start + i / rate
        tally.scheduled[mid] = scheduled
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_post(pool, port, raw, mid, tally))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()


async def _replies(account: Account, channel_id: str, per_s: float, tally: Tally) -> None:
    """Replies through the relay's send endpoint, paced, until cancelled."""
    async with httpx.AsyncClient(base_url=account.base_url, headers=account.headers) as http:
        i = 0
        while True:
            await asyncio.sleep(1 / per_s)
            r = await http.post(
                "/v1/messages",
                json={
                    "channel_id": channel_id,
                    "recipient_id": f"soak-customer-{i % 20}",
                    "text": f"Reply {i}",
                    "idempotency_key": uuid.uuid4().hex,
                },
                timeout=30,
            )
            if r.status_code == 200:
                tally.sends_ok += 1
            else:
                tally.sends_failed += 1
            i += 1


async def _sample(pid: int, samples: list[float]) -> None:
    while True:
        samples.append(rss_mb(pid))
        await asyncio.sleep(SAMPLE_S)


async def _drain(tally: Tally, devices: list[str], timeout_s: float) -> None:
    """Wait until every accepted webhook reached every device (or the time-out)."""
    await tally.until(
        lambda: all(tally.accepted <= tally.seen.get(d, Counter()).keys() for d in devices),
        timeout_s,
    )


def _new_device(account: Account, name: str) -> str:
    r = httpx.post(f"{account.base_url}/v1/devices", json={"name": name}, headers=account.headers)
    r.raise_for_status()
    device_id: str = r.json()["id"]
    return device_id


async def _soak(
    relay: ServerProcess, args: argparse.Namespace
) -> tuple[dict[str, object], dict[str, str]]:
    account = sign_up(relay.url)
    channel = account.connect(
        platform="messenger", page_id="104000000000001", access_token=PAGE_TOKEN, name="Soak"
    )
    devices = [account.device_id] + [_new_device(account, f"D{i}") for i in range(1, args.devices)]
    tally = Tally()
    samples: list[float] = []
    background = [asyncio.create_task(_device(account, d, tally, every=False)) for d in devices]
    background.append(asyncio.create_task(_sample(relay.pid, samples)))
    background.append(asyncio.create_task(_replies(account, channel["id"], args.sends, tally)))
    await _webhooks(relay.port, ["104000000000001"], args.rate, args.minutes * 60, tally)
    await _drain(tally, devices, 30)
    samples.append(rss_mb(relay.pid))
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    lost = {m for d in devices for m in tally.accepted - tally.seen.get(d, Counter()).keys()}
    duplicated = sum(n - 1 for d in devices for n in tally.seen.get(d, Counter()).values() if n > 1)
    warm = samples[2:4] or samples[:1]  # after ~10 s: the first pages and caches are in
    return {
        "bench": "soak",
        "minutes": args.minutes,
        "webhooks": len(tally.scheduled),
        "delivered": len(tally.accepted) - len(lost),
        "lost": len(lost),
        "duplicated": duplicated,
        "refused": tally.refused,
        "rss_start_mb": round(sum(warm) / len(warm), 1),
        "rss_end_mb": round(samples[-1], 1),
        "rss_max_mb": round(max(samples), 1),
        "p99_ms": round(percentile(tally.latencies, 99) * 1000, 1),
        "p50_ms": round(percentile(tally.latencies, 50) * 1000, 1),
        "rate": args.rate,
        "devices": args.devices,
        "streams_broken": len(tally.broken),
        "sends": tally.sends_ok,
        "send_failures": tally.sends_failed,
    }, tally.broken


async def _clients(
    relay: ServerProcess, args: argparse.Namespace
) -> tuple[dict[str, object], dict[str, str]]:
    per_shop = 10
    shops: list[tuple[Account, str, list[str]]] = []
    for i in range(max(1, args.clients // per_shop)):
        account = sign_up(relay.url)
        page = f"10400000{i:07d}"
        account.connect(platform="messenger", page_id=page, access_token=PAGE_TOKEN)
        devices = [account.device_id] + [_new_device(account, f"D{j}") for j in range(1, per_shop)]
        shops.append((account, page, devices))
    idle = rss_mb(relay.pid)
    tally = Tally()
    tasks = []
    for account, _, devices in shops:
        for device in devices:
            tasks.append(asyncio.create_task(_device(account, device, tally, every=True)))
    all_devices = [d for _, _, devices in shops for d in devices]
    await tally.until(lambda: len(tally.seen) + len(tally.broken) >= len(all_devices), 120)
    await asyncio.sleep(2)  # let the connections settle before memory is read
    connected = rss_mb(relay.pid)
    await _webhooks(relay.port, [page for _, page, _ in shops], args.rate, args.seconds, tally)
    expected = len(tally.accepted) * per_shop
    await tally.until(lambda: sum(len(c) for c in tally.seen.values()) >= expected, 30)
    end = rss_mb(relay.pid)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    delivered = sum(len(c) for c in tally.seen.values())
    return {
        "bench": "soak_clients",
        "clients": len(all_devices),
        "webhooks": len(tally.scheduled),
        "deliveries": delivered,
        "lost": expected - delivered,
        "rss_idle_mb": round(idle, 1),
        "rss_connected_mb": round(connected, 1),
        "rss_end_mb": round(end, 1),
        "kb_per_client": round((connected - idle) * 1024 / len(all_devices), 1),
        "streams_broken": len(tally.broken),
        "p99_ms": round(percentile(tally.latencies, 99) * 1000, 1),
        "p50_ms": round(percentile(tally.latencies, 50) * 1000, 1),
        "rate": args.rate,
    }, tally.broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--sends", type=float, default=2.0, help="replies per second")
    parser.add_argument("--clients", type=int, default=0, help="the many-clients mode")
    parser.add_argument("--seconds", type=float, default=30.0, help="load time with --clients")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes = min(args.minutes, 0.25)
        args.seconds = min(args.seconds, 5.0)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fake = FakeGraph({PAGE_TOKEN})
    with (
        serve_app(fake.app) as graph,
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        relay_process(Path(tmp), graph_base_url=f"{graph.url}/{GRAPH_VERSION}") as relay,
    ):
        figures, broken = run_fast(_clients(relay, args) if args.clients else _soak(relay, args))
    for why in sorted(set(broken.values()))[:5]:
        print(f"a stream ended: {why}", file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
