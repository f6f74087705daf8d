"""Webhook ingest throughput: the real relay against two baselines, same load.

Each server runs as its own process with the relay's uvicorn options: the relay, a plain
Litestar handler that reads the body and answers 200 (``ratio_vs_litestar``), and a raw
ASGI app that does the same without a framework (``ratio_vs_raw_asgi``; the relay's Meta
route is itself raw ASGI). One generator process (tests/bench/_load.py) keeps
``--connections`` keep-alive connections busy with unique ~2 KB signed Meta webhooks.
The servers are loaded in alternating rounds, so load from anything else on the machine
weighs on all alike. Afterwards the relay's database is read to check that every webhook
answered 200 was stored (``lost``); ``failed`` counts the relay's answers other than 200.

    python tests/bench/relay_ingest.py [--quick] [--seconds N] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.bench import _rounds
from tests.bench._relay_proc import (
    PAGE_ID,
    ServerProcess,
    bare_process,
    relay_process,
    signed_up_with_page,
)
from tests.bench._rounds import generate, log, system_cpu


@dataclass
class Tally(_rounds.Tally):
    server_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.name}: {self.per_s:.0f}/s, p50 {self.p_ms(50):.2f} ms,"
            f" p99 {self.p_ms(99):.2f} ms, answered 200 {len(self.ok)}, other {self.failed};"
            f" server CPU {self.server_cpu_s / self.wall_s:.0%} of a core"
            f" ({self.server_cpu_s / max(1, len(self.ok)) * 1e6:.0f} µs a request),"
            f" generator {self.generator_cpu_s / self.wall_s:.0%}"
        )


def _round(server: ServerProcess, tally: Tally, index: int, args: argparse.Namespace) -> None:
    """One generator run against ``server``, added to ``tally``."""
    cpu_before = server.cpu_seconds()
    result = generate(server, tally, index, args, PAGE_ID)
    tally.server_cpu_s += server.cpu_seconds() - cpu_before
    tally.generator_cpu_s += result["generator_cpu"] * result["wall_s"]


def stored_mids(database: Path) -> list[str]:
    """Platform ids of every stored message event, read-only, repeats included."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT json_extract(CAST(payload AS TEXT), '$.platform_id') FROM events"
            " WHERE kind = 'message'"
        ).fetchall()
    finally:
        conn.close()
    return [str(row[0]) for row in rows]


def _ratio(tally: Tally, baseline: Tally) -> float:
    return round(tally.per_s / baseline.per_s, 3) if baseline.per_s else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for a smoke run")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the servers")
    parser.add_argument(
        "--synchronous",
        choices=["full", "normal"],
        default="full",
        help="SQLite durability: full survives power loss (the default), normal a killed process",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = min(args.seconds, 3.0), 1
    args.round_s = args.seconds / args.rounds
    args.warmup = 0.5 if args.quick else 1.0

    relay, litestar, asgi = Tally("relay"), Tally("litestar"), Tally("asgi")
    with tempfile.TemporaryDirectory(prefix="relay-ingest-") as tmp:
        args.workdir = Path(tmp)
        system_before = system_cpu()
        database = f"sqlite:///{args.workdir / 'relay.db'}?synchronous={args.synchronous}"
        with (
            relay_process(args.workdir, database_url=database) as relay_server,
            bare_process(args.workdir, "litestar") as litestar_server,
            bare_process(args.workdir, "asgi") as asgi_server,
        ):
            signed_up_with_page(relay_server.url)
            for index in range(args.rounds):
                _round(relay_server, relay, index, args)
                _round(litestar_server, litestar, index, args)
                _round(asgi_server, asgi, index, args)
        system_after = system_cpu()
        stored = stored_mids(args.workdir / "relay.db")

    busy = 1 - (system_after[1] - system_before[1]) / (system_after[0] - system_before[0])
    lost = len(set(relay.ok) - set(stored))
    for tally in (relay, litestar, asgi):
        log(tally.summary())
    log(
        f"relay answered 200: {len(relay.ok)}, stored: {len(stored)},"
        f" stored twice: {len(stored) - len(set(stored))}; machine busy {busy:.0%}"
    )
    figures = {
        "bench": "relay_ingest",
        "webhooks_per_s": round(relay.per_s),
        "litestar_per_s": round(litestar.per_s),
        "raw_asgi_per_s": round(asgi.per_s),
        "ratio_vs_litestar": _ratio(relay, litestar),
        "ratio_vs_raw_asgi": _ratio(relay, asgi),
        "p99_ms": round(relay.p_ms(99), 2),
        "lost": lost,
        "failed": relay.failed,
        "synchronous": args.synchronous,
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
