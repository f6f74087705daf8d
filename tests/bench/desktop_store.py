"""Benchmark: the desktop store's event apply rate and conversation-list query latency.

Fills a fresh store through ``Store.apply_events`` (the sync's own path) with N
conversations of M inbound messages each across 4 channels, then times the list queries
the UI runs (everything, by status, by channel, word search, name search, window order,
expiring windows), each call including the thread hop and decoding into structs. Prints
one JSON line:

    {"bench": "desktop_store", "conversations": N, "messages": .., "apply_events_per_s": ..,
     "list_all_p50_ms": .., "list_all_p99_ms": .., ...}

Usage: python -m tests.bench.desktop_store [--conversations 10000] [--messages 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common.events import Customer, MessageReceived
from common.protocol import EventFrame
from desktop.core.store import ConversationQuery, Store

SYLLABLES = [c + v for c in "bcdfghjklmnprstvzšçë" for v in "aeiouy"]
CHANNELS = ("CH-messenger", "CH-instagram", "CH-whatsapp", "CH-viber")
PLATFORMS: dict[str, Any] = {
    "CH-messenger": "messenger",
    "CH-instagram": "instagram",
    "CH-whatsapp": "whatsapp",
    "CH-viber": "viber",
}


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


async def fill(
    store: Store, conversations: int, messages: int, rng: random.Random, words: list[str]
) -> float:
    """Apply every event in batches of 1000; returns events per second.

    Message words follow Zipf's law over ``words``, as language does.
    """
    weights = list(itertools.accumulate(1.0 / rank**1.07 for rank in range(1, len(words) + 1)))
    now = time.time_ns() // 1_000_000
    frames: list[EventFrame] = []
    seq = 0
    for m in range(messages):
        for c in range(conversations):
            seq += 1
            channel = CHANNELS[c % len(CHANNELS)]
            text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(3, 12)))
            frames.append(
                EventFrame(
                    seq=seq,
                    id=f"ev{seq}",
                    stored_at_ms=now,
                    event=MessageReceived(
                        channel_id=channel,
                        platform=PLATFORMS[channel],
                        customer=Customer(id=f"cust{c}", name=f"Klient {c} Krasniqi"),
                        timestamp_ms=now - (conversations - c) * 60_000 + m,
                        platform_id=f"mid{c}-{m}",
                        text=text,
                    ),
                )
            )
    started = time.perf_counter()
    for start in range(0, len(frames), 1000):
        await store.apply_events(frames[start : start + 1000])
    return len(frames) / (time.perf_counter() - started)


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


async def run(conversations: int, messages: int, runs: int) -> dict[str, object]:
    rng = random.Random(7)
    words = vocabulary(20_000, rng)
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "bench.db")
        try:
            rate = await fill(store, conversations, messages, rng, words)
            # A fifth resolved and a few labelled, as in a shop that uses the app.
            for conversation in (await store.list_conversations())[::5]:
                await store.set_status(conversation.id, "resolved")
            cases: dict[str, Callable[[], Awaitable[object]]] = {
                "list_all": store.list_conversations,
                "by_status": lambda: store.list_conversations(
                    ConversationQuery(statuses=("open", "waiting"))
                ),
                "by_channel": lambda: store.list_conversations(
                    ConversationQuery(channel_id="CH-whatsapp")
                ),
                # The 200th most frequent word: a typical search, in a few % of messages.
                "word_search": lambda: store.list_conversations(
                    ConversationQuery(text=words[199][:4])
                ),
                "common_word_search": lambda: store.list_conversations(
                    ConversationQuery(text=words[0])
                ),
                "name_search": lambda: store.list_conversations(
                    ConversationQuery(text="klient 12")
                ),
                "window_order": lambda: store.list_conversations(ConversationQuery(order="window")),
                "expiring_50": lambda: store.expiring_conversations(limit=50),
                "first_page_100": lambda: store.list_conversations(ConversationQuery(limit=100)),
            }
            result: dict[str, object] = {
                "bench": "desktop_store",
                "conversations": conversations,
                "messages": conversations * messages,
                "apply_events_per_s": round(rate),
            }
            for name, call in cases.items():
                p50, p99 = await timed(call, runs)
                result[f"{name}_p50_ms"] = round(p50, 2)
                result[f"{name}_p99_ms"] = round(p99, 2)
            return result
        finally:
            await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2,000 conversations, 3 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.conversations, args.messages, args.runs = 2_000, 3, 10
    print(json.dumps(asyncio.run(run(args.conversations, args.messages, args.runs))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
