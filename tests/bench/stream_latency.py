"""Webhook-to-device latency: paced signed webhooks in, event frames out on a live stream.

The relay runs as its own process. In one event loop, a paced sender posts unique
signed ~600 B Meta webhooks at ``--rate`` per second over keep-alive connections and a
device holds the ``/v1/stream`` WebSocket (no compression), acknowledging as it goes.
Latency runs from the moment a webhook was *scheduled* to be sent (start + i / rate) to
the moment its event frame is read (``p50_ms``/``p99_ms``), so time spent waiting for a
free connection behind a slow answer counts (no coordinated omission); ``accepted_*``
run from its 200 instead. ``refused``: answers other than 200; ``failed``: connections
lost before an answer; ``lost``: answered 200 but never streamed. A webhook that never
reaches the device counts in one of them, never silently.

    python tests/bench/stream_latency.py [--quick] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.events import MessageReceived
from common.protocol import SERVER_FRAME_DECODER, EventFrame
from tests.bench._load import HttpConnection, WebhookFactory, percentile, run_fast
from tests.bench._relay_proc import PAGE_ID, relay_process, signed_up_with_page
from tests.relay_helpers import Account, StreamClient, open_stream

ACK_EVERY = 16
CONNECTIONS = 16


@dataclass
class Timings:
    """perf_counter() stamps per mid: POST scheduled, POST written, 200 read, frame read."""

    scheduled: dict[str, float] = field(default_factory=dict)
    posted: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    received: dict[str, float] = field(default_factory=dict)
    measured: set[str] = field(default_factory=set)
    sent_all: bool = False
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def check_all_in(self) -> None:
        """Wake the drain once sending is over and every 200 has its frame."""
        if self.sent_all and self.accepted.keys() <= self.received.keys():
            self.all_in.set()


async def _receive(stream: StreamClient, timings: Timings) -> None:
    """Read frames until cancelled; stamp message events; ack every ACK_EVERY events."""
    unacked = 0
    while True:
        raw = await stream.ws.recv()
        now = time.perf_counter()
        frame = SERVER_FRAME_DECODER.decode(raw)
        if not isinstance(frame, EventFrame):
            continue
        if isinstance(frame.event, MessageReceived) and frame.event.platform_id:
            timings.received.setdefault(frame.event.platform_id, now)
        unacked += 1
        if unacked >= ACK_EVERY:
            await stream.ack(frame.seq)
            unacked = 0
        timings.check_all_in()


async def _post(
    pool: asyncio.Queue[HttpConnection], port: int, raw: bytes, mid: str, timings: Timings
) -> None:
    conn = await pool.get()
    try:
        timings.posted[mid] = time.perf_counter()
        status = await conn.request(raw)
    except ConnectionError:
        timings.failed.add(mid)
        conn = await HttpConnection.open("127.0.0.1", port)
    else:
        if status == 200:
            timings.accepted[mid] = time.perf_counter()
        else:
            timings.refused[mid] = status
    finally:
        pool.put_nowait(conn)


async def _send(port: int, args: argparse.Namespace, timings: Timings) -> None:
    """Post ``rate × seconds`` webhooks on a fixed schedule (not waiting for answers)."""
    factory = WebhookFactory(f"127.0.0.1:{port}", PAGE_ID, body_bytes=600)
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    conns = [await HttpConnection.open("127.0.0.1", port) for _ in range(CONNECTIONS)]
    for conn in conns:
        pool.put_nowait(conn)
    warmup = round(args.rate * args.warmup)
    total = warmup + round(args.rate * args.seconds)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    for i in range(total):
        mid = f"lat.{i}"
        raw = factory.request(f"customer-{i % 20}", mid)
        scheduled = start + i / args.rate
        timings.scheduled[mid] = scheduled
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if i >= warmup:
            timings.measured.add(mid)
        task = asyncio.create_task(_post(pool, port, raw, mid, timings))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()


async def _measure(account: Account, port: int, args: argparse.Namespace) -> Timings:
    timings = Timings()
    async with open_stream(account) as stream:
        receiver = asyncio.create_task(_receive(stream, timings))
        await _send(port, args, timings)
        timings.sent_all = True
        timings.check_all_in()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(timings.all_in.wait(), args.drain_s)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    return timings


def _ms(values: list[float], pct: float) -> float:
    return round(percentile(values, pct) * 1000, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for a smoke run")
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 3.0)
    args.warmup = 0.5
    args.drain_s = 10.0

    with (
        tempfile.TemporaryDirectory(prefix="stream-latency-") as tmp,
        relay_process(Path(tmp)) as relay,
    ):
        account = signed_up_with_page(relay.url)
        timings = run_fast(_measure(account, relay.port, args))

    arrived = [m for m in timings.measured if m in timings.received and m in timings.accepted]
    from_schedule = [timings.received[m] - timings.scheduled[m] for m in arrived]
    from_post = [timings.received[m] - timings.posted[m] for m in arrived]
    from_200 = [timings.received[m] - timings.accepted[m] for m in arrived]
    lost = sorted(set(timings.accepted) - set(timings.received))
    print(
        f"sent {len(timings.posted)}, answered 200 {len(timings.accepted)},"
        f" refused {len(timings.refused)}, failed {len(timings.failed)},"
        f" lost {len(lost)} {lost[:5]};"
        f" scheduled->frame p50 {_ms(from_schedule, 50)} p99 {_ms(from_schedule, 99)}"
        f" max {_ms(from_schedule, 100)} ms;"
        f" POST->frame p50 {_ms(from_post, 50)} p99 {_ms(from_post, 99)}"
        f" max {_ms(from_post, 100)} ms; 200->frame p50 {_ms(from_200, 50)}"
        f" p99 {_ms(from_200, 99)} ms",
        file=sys.stderr,
    )
    figures = {
        "bench": "stream_latency",
        "p50_ms": _ms(from_schedule, 50),
        "p99_ms": _ms(from_schedule, 99),
        "max_ms": _ms(from_schedule, 100),
        "lost": len(lost),
        "refused": len(timings.refused),
        "failed": len(timings.failed),
        "accepted_p50_ms": _ms(from_200, 50),
        "accepted_p99_ms": _ms(from_200, 99),
        "rate": args.rate,
        "webhooks": len(timings.scheduled),
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
