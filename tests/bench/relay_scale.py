"""The relay on PostgreSQL: ingest with one and with two processes, and cross-process latency.

Ingest: ``clientora-relay serve --workers 1`` and ``--workers 2``, each on its own schema
of the same PostgreSQL, loaded in alternating rounds by one generator process
(tests/bench/_load.py: keep-alive connections, unique ~2 KB signed Meta webhooks for 16
shops), so whatever else the machine does weighs on both alike. ``scaling`` is the ratio of the two.
Afterwards the database is read: every webhook answered 200 must be stored (``lost``).

Cross-process: webhooks go to relay A, the device streams from relay B (two processes,
one database): paced at ``--rate`` per second, latency from the POST written to the event
frame read on B's stream (LISTEN/NOTIFY carries the wake-up across). Then B holds
``--streams`` idle device streams and its resident memory growth is reported per 1,000.
The same latency with webhooks and stream on one process is the baseline (``same_*``).

On a 2-core machine the generator, PostgreSQL and the relay processes share the cores,
so the figure says little about a server with more cores: the JSON line carries how busy
the machine was and the CPU each part used per webhook, to read it by.

    python tests/bench/relay_scale.py [--quick] [--seconds N] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import websockets

from common.protocol import Hello, encode
from tests.bench import _rounds
from tests.bench._load import percentile, run_fast
from tests.bench._relay_proc import (
    ServerProcess,
    relay_process,
    signed_up_with_page,
)
from tests.bench._rounds import generate, log, system_cpu
from tests.bench.stream_latency import Timings, _measure
from tests.pg import admin_dsn, with_search_path
from tests.relay_helpers import Account, ws_url

#: Shops the ingest load is spread over. Each business numbers its events under a row
#: lock, so one shop's webhooks commit one after another whatever the process count.
PAGES = [f"1040000000001{n:02d}" for n in range(16)]


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the workers), from /proc."""
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo += [int(child) for child in children]
    return total


def _postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL server process on this machine."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("postgres"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Tally(_rounds.Tally):
    relay_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0

    def summary(self) -> str:
        per = max(1, len(self.ok))
        return (
            f"{self.name}: {self.per_s:.0f}/s, p50 {self.p_ms(50):.2f} ms,"
            f" p99 {self.p_ms(99):.2f} ms, answered 200 {len(self.ok)}, other {self.failed};"
            f" relay CPU {self.relay_cpu_s / per * 1e6:.0f} µs and PostgreSQL"
            f" {self.postgres_cpu_s / per * 1e6:.0f} µs a webhook"
        )


def _round(server: ServerProcess, tally: Tally, index: int, args: argparse.Namespace) -> None:
    """One generator run against ``server``, added to ``tally``."""
    relay_before, pg_before = _tree_cpu(server.pid), _postgres_cpu()
    generate(server, tally, index, args, ",".join(PAGES))
    tally.relay_cpu_s += _tree_cpu(server.pid) - relay_before
    tally.postgres_cpu_s += _postgres_cpu() - pg_before


async def _schemas(count: int) -> list[str]:
    conn = await asyncpg.connect(admin_dsn(), timeout=5)
    try:
        names = [f"bench_{secrets.token_hex(5)}" for _ in range(count)]
        for name in names:
            await conn.execute(f"CREATE SCHEMA {name}")
        return names
    finally:
        await conn.close()


async def _drop(names: list[str]) -> None:
    conn = await asyncpg.connect(admin_dsn(), timeout=5)
    try:
        for name in names:
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


async def _stored_mids(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8')::jsonb->>'platform_id' AS mid FROM events"
            " WHERE kind = 'message'"
        )
    finally:
        await conn.close()
    return [str(row["mid"]) for row in rows]


def _ingest(args: argparse.Namespace, dsns: tuple[str, str]) -> tuple[Tally, Tally, int]:
    one, two = Tally("pg1"), Tally("pg2")
    (args.workdir / "one").mkdir()
    (args.workdir / "two").mkdir()
    with (
        relay_process(args.workdir / "one", database_url=dsns[0]) as single,
        relay_process(args.workdir / "two", database_url=dsns[1], workers="2") as double,
    ):
        for page_id in PAGES:
            signed_up_with_page(single.url, page_id)
            signed_up_with_page(double.url, page_id)
        for index in range(args.rounds):
            _round(single, one, index, args)
            _round(double, two, index, args)
    lost = 0
    for tally, dsn in ((one, dsns[0]), (two, dsns[1])):
        stored = asyncio.run(_stored_mids(dsn))
        lost += len(set(tally.ok) - set(stored))
        log(f"{tally.name}: stored {len(stored)}, twice {len(stored) - len(set(stored))}")
    return one, two, lost


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _hold_streams(account: Account, devices: list[str], pid: int) -> float:
    """Open one live stream per device and return the relay's memory growth in MB."""
    before = _rss_mb(pid)
    async with contextlib.AsyncExitStack() as stack:
        for device in devices:
            ws = await stack.enter_async_context(
                websockets.connect(
                    ws_url(account.base_url),
                    additional_headers=account.headers,
                    compression=None,
                )
            )
            # From the head: an idle stream, nothing to replay (the relay clamps the cursor).
            await ws.send(encode(Hello(device_id=device, cursor=2**62)).decode())
            await ws.recv()  # welcome
        await asyncio.sleep(1.0)  # let the relay settle (allocator, GC)
        return _rss_mb(pid) - before


def _stream_memory(server: ServerProcess, account: Account, count: int) -> float:
    """MB of relay memory per 1,000 idle device streams (``count`` devices of one shop)."""
    with httpx.Client(base_url=server.url, headers=account.headers, timeout=30) as http:
        devices = [
            http.post("/v1/devices", json={"name": f"device {n}"}).json()["id"]
            for n in range(count)
        ]
    grown = asyncio.run(_hold_streams(account, devices, server.pid))
    return grown * 1000 / count


def _cross(args: argparse.Namespace, dsn: str) -> tuple[Timings, float]:
    (args.workdir / "a").mkdir()
    (args.workdir / "b").mkdir()
    with (
        relay_process(args.workdir / "a", database_url=dsn) as ingest,
        relay_process(args.workdir / "b", database_url=dsn) as streams,
    ):
        account = signed_up_with_page(ingest.url)
        account.base_url = streams.url  # the device's stream is on the other process
        timings = run_fast(_measure(account, ingest.port, args))
        return timings, _stream_memory(streams, account, args.streams)


def _same(args: argparse.Namespace, dsn: str) -> Timings:
    """The baseline in the same conditions: webhooks and the stream on one process."""
    (args.workdir / "same").mkdir()
    with relay_process(args.workdir / "same", database_url=dsn) as relay:
        account = signed_up_with_page(relay.url)
        return run_fast(_measure(account, relay.port, args))


def _latencies(timings: Timings) -> list[float]:
    arrived = [m for m in timings.measured if m in timings.received and m in timings.accepted]
    return [timings.received[m] - timings.posted[m] for m in arrived]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for a smoke run")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured ingest seconds each")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of 1 and 2 processes")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0, help="cross-process webhooks/s")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=1000, help="idle streams for memory")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.latency_seconds = min(args.seconds, 3.0), 1, 2.0
        args.streams = min(args.streams, 200)
    args.round_s = args.seconds / args.rounds
    args.warmup = 0.5 if args.quick else 1.0
    args.drain_s = 10.0

    names = asyncio.run(_schemas(4))
    dsns = [with_search_path(admin_dsn(), name) for name in names]
    try:
        with tempfile.TemporaryDirectory(prefix="relay-scale-") as tmp:
            args.workdir = Path(tmp)
            system_before = system_cpu()
            one, two, lost = _ingest(args, (dsns[0], dsns[1]))
            system_after = system_cpu()
            args.seconds = args.latency_seconds
            timings, stream_mb = _cross(args, dsns[2])
            same = _same(args, dsns[3])
    finally:
        asyncio.run(_drop(names))

    busy = 1 - (system_after[1] - system_before[1]) / (system_after[0] - system_before[0])
    latencies = _latencies(timings)
    same_latencies = _latencies(same)
    lost += len(set(timings.accepted) - set(timings.received))
    lost += len(set(same.accepted) - set(same.received))
    log(one.summary())
    log(two.summary())
    log(
        f"machine busy {busy:.0%} during ingest on {os.cpu_count()} cores; cross-process:"
        f" {len(latencies)} measured, refused {len(timings.refused)}"
    )
    figures = {
        "bench": "relay_scale",
        "pg_1proc_per_s": round(one.per_s),
        "pg_2proc_per_s": round(two.per_s),
        "scaling": round(two.per_s / one.per_s, 3) if one.per_s else 0.0,
        "cross_p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "cross_p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "same_process_p50_ms": round(percentile(same_latencies, 50) * 1000, 3),
        "same_process_p99_ms": round(percentile(same_latencies, 99) * 1000, 3),
        "lost": lost,
        "cores": os.cpu_count(),
        "machine_busy": round(busy, 3),
        "relay_cpu_us_per_webhook": round(one.relay_cpu_s / max(1, len(one.ok)) * 1e6),
        "relay_mb_per_1000_streams": round(stream_mb, 1),
        "postgres_cpu_us_per_webhook": round(one.postgres_cpu_s / max(1, len(one.ok)) * 1e6),
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
