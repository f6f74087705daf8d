"""Helpers for tests that run the real desktop engine against the real relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import msgspec

from common.protocol import ConnectChannel
from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.engine import Engine
from desktop.core.store import Change, MessageAdded
from tests.conftest import PAGE_TOKEN
from tests.fakes.openai import ChatRequest

__all__ = ["citing_answer", "now_ms", "open_engine", "settles", "wait_for"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def wait_for(
    check: Callable[[], Awaitable[object]] | Callable[[], object], timeout: float = 15
) -> None:
    """Poll ``check`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def settles(*engines: Engine, inbound: int = 1, timeout: float = 15) -> AsyncIterator[None]:
    """On leaving the block, wait until each engine has stored ``inbound`` new customer
    messages, its assistant has finished every draft they started and its outbox has sent
    all it queued: whatever the engines would do about those messages is then done."""
    seen = [0] * len(engines)
    all_in = asyncio.Event()

    def counter(index: int) -> Callable[[Sequence[Change]], None]:
        def count(changes: Sequence[Change]) -> None:
            seen[index] += sum(isinstance(c, MessageAdded) and c.inbound for c in changes)
            if min(seen) >= inbound:
                all_in.set()

        return count

    # Subscribed after the assistant, so by the time a message is counted here the
    # assistant has already scheduled its draft.
    stops = [e.store.changes.subscribe(counter(i)) for i, e in enumerate(engines)]
    try:
        yield
        await asyncio.wait_for(all_in.wait(), timeout)
    finally:
        for stop in stops:
            stop()
    for engine in engines:
        await asyncio.wait_for(engine.assistant.idle(), timeout)

    async def drained() -> bool:
        for engine in engines:
            if engine.outbox.state != "idle" or await engine.store.outbox(limit=1):
                return False
        return True

    await wait_for(drained, timeout)


async def open_engine(
    folder: Path,
    relay_url: str,
    *,
    email: str = "arta@example.com",
    new_account: bool = True,
    connect_page: bool = True,
    settle_s: float = 0.2,
) -> Engine:
    """An engine signed up (or in) to the relay, with the Messenger page PAGE1 connected."""
    engine = await Engine.open(folder, credentials=EncryptedFileCredentials(folder / "secrets"))
    engine.preferences.settings = msgspec.structs.replace(engine.settings, settle_s=settle_s)
    if new_account:
        await engine.session.sign_up(relay_url, "Kafe Prishtina", "Arta", email, "a long password")
    else:
        await engine.session.sign_in(relay_url, email, "a long password")
    engine.preferences.settings = msgspec.structs.replace(engine.settings, settle_s=settle_s)
    if connect_page:
        await engine.channels.connect_channel(
            ConnectChannel(
                platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN, name="Kafe"
            )
        )
    return engine


def citing_answer(reply: str, confidence: float = 0.95) -> Callable[[ChatRequest], str]:
    """A model that answers ``reply`` citing the first chunk it was given."""

    def answer(request: ChatRequest) -> str:
        match = re.search(r'<chunk id="([^"]+)"', request.text)
        cited = [match.group(1)] if match else []
        return json.dumps(
            {
                "reply": reply,
                "cited_chunk_ids": cited,
                "confidence": confidence,
                "handoff": False,
                "handoff_reason": None,
            }
        )

    return answer
