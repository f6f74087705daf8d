"""A lean HTTP/1.1 load generator for signed Meta webhooks (run as its own process).

Each connection is one raw asyncio protocol with keep-alive and one request in
flight, so the generator costs a few tens of microseconds per request and is not
what a benchmark measures. Every body is unique (its own ``mid``) and signed like
Meta signs it. ``python -m tests.bench._load ... --out FILE`` writes one JSON object: the
``mid``s answered 200, the others with their status (-1: connection lost), and the
count and latencies of the 200s answered in the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import resource
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from tests.relay_helpers import APP_SECRET, messenger_text

__all__ = ["HttpConnection", "WebhookFactory", "percentile", "run_fast"]

T = TypeVar("T")

_FILLER = (
    "Hello! I would like to order the large family box for Saturday and pick it up at "
    "the shop around noon; could you tell me whether the gluten-free option is available "
    "again, how much the delivery to the old town costs, and if you take card payments? "
)


class WebhookFactory:
    """Signed Messenger webhook requests of about ``body_bytes`` bytes, one message each."""

    _PSID = "@@psid@@"
    _MID = "@@mid@@"

    def __init__(
        self,
        host: str,
        page_id: str,
        body_bytes: int = 2048,
        path: str = "/webhooks/meta",
        secret: str = APP_SECRET,
    ) -> None:
        self._key = secret.encode()
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nX-Hub-Signature-256: sha256=%s\r\n\r\n"
        )
        empty = self._template(page_id, "")
        pad = max(0, body_bytes - len(empty) - 40)  # 40: a typical psid + mid
        text = (_FILLER * (pad // len(_FILLER) + 1))[:pad]
        template = self._template(page_id, text)
        before, rest = template.split(self._PSID.encode())
        middle, after = rest.split(self._MID.encode())
        self._parts = (before, middle, after)

    def _template(self, page_id: str, text: str) -> bytes:
        payload = messenger_text(page_id, self._PSID, self._MID, text)
        return json.dumps(payload, separators=(",", ":")).encode()

    def body(self, psid: str, mid: str) -> bytes:
        before, middle, after = self._parts
        return b"".join((before, psid.encode(), middle, mid.encode(), after))

    def request(self, psid: str, mid: str) -> bytes:
        """The whole HTTP request: head with the signature, then the body."""
        body = self.body(psid, mid)
        signature = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        return (self._head % (len(body), signature)).encode() + body


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; answers the status."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._need = -1
        self._status = 0
        self._lost: Exception | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = ConnectionError(f"connection lost: {exc}")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            start = head.find(b"\r\ncontent-length:")
            if start < 0:
                raise ConnectionError("response without Content-Length")
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop >= 0 else len(head)])
            self._need = end + 4 + length
        if len(self._buffer) >= self._need:
            del self._buffer[: self._need]
            self._need = -1
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(self._status)

    async def request(self, raw: bytes) -> int:
        if self._lost is not None or self._transport is None:
            raise self._lost or ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (uvicorn[standard] brings it)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


async def _drive(args: argparse.Namespace) -> dict[str, Any]:
    # Several pages (comma-separated): connection i posts for page i mod n.
    factories = [
        WebhookFactory(f"{args.host}:{args.port}", page_id, args.body_bytes)
        for page_id in args.page_id.split(",")
    ]
    conns = [await HttpConnection.open(args.host, args.port) for _ in range(args.connections)]
    ok: list[str] = []
    failed: dict[str, int] = {}
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from = start + args.warmup
    deadline = measure_from + args.seconds
    in_window = 0

    async def worker(index: int, conn: HttpConnection) -> None:
        nonlocal in_window
        sent = 0
        factory = factories[index % len(factories)]
        while time.perf_counter() < deadline:
            mid = f"{args.prefix}.{index}.{sent}"
            raw = factory.request(f"{args.prefix}-customer-{index % 50}", mid)
            sent += 1
            begun = time.perf_counter()
            try:
                status = await conn.request(raw)
            except ConnectionError:
                failed[mid] = -1
                conn.close()
                conn = await HttpConnection.open(args.host, args.port)
                continue
            done = time.perf_counter()
            if status == 200:
                ok.append(mid)
            else:
                failed[mid] = status
            if status == 200 and measure_from <= done <= deadline:
                in_window += 1
                latencies.append(done - begun)
        conn.close()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    used = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = time.perf_counter() - start
    cpu = used.ru_utime + used.ru_stime - usage.ru_utime - usage.ru_stime
    return {
        "seconds": args.seconds,
        "answered_in_window": in_window,
        "latencies_us": [round(x * 1e6) for x in latencies],
        "ok": ok,
        "failed": failed,
        "generator_cpu": cpu / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-id", required=True, help="one page id, or several with commas")
    parser.add_argument("--prefix", required=True, help="makes every mid of this run unique")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before")
    parser.add_argument("--body-bytes", type=int, default=2048)
    parser.add_argument("--out", type=Path, required=True, help="where the JSON result goes")
    args = parser.parse_args(argv)
    result = run_fast(_drive(args))
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
