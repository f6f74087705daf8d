"""End to end: the real relay and the real desktop engine, with fake platforms and model."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest

from desktop.core.autopilot import ChannelPolicy
from desktop.core.drafting import AIConfig
from desktop.core.engine import Engine
from tests.engine_helpers import open_engine, settles, wait_for
from tests.fakes.graph import FakeGraph, Recorded
from tests.fakes.openai import ChatRequest, FakeOpenAI, ServedOpenAI, serve_fake_openai
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text, post_meta

FakeGraphServer = tuple[FakeGraph, ServedApp]


def _sends(fake: FakeGraph) -> list[Recorded]:
    """The Send API calls Graph received (connecting a channel also reads from it)."""
    return [r for r in fake.requests if r.method == "POST"]


@pytest.fixture
def model() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(api_key="sk-test")) as served:
        yield served


@pytest.fixture
async def engine(tmp_path: Path, relay: ServedApp) -> AsyncIterator[Engine]:
    """A desktop engine signed up to the test relay, with a Messenger page connected."""
    engine = await open_engine(tmp_path / "desktop", relay.url)
    await engine.kb.add_faq(
        "A jeni të hapur të dielën?",
        "Po, të dielën jemi hapur 10:00–18:00.",
        ["orari i së dielës", "hapur të dielën"],
    )
    try:
        yield engine
    finally:
        await engine.close()


async def _messenger_channel(engine: Engine) -> str:
    channels = await engine.store.channels()
    return next(c.id for c in channels if c.platform == "messenger")


async def test_auto_mode_sends_a_grounded_reply_to_the_platform(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """Signed webhook -> stream -> store -> retrieval -> LLM draft -> auto-send -> Graph."""
    fake, _ = fake_graph
    await engine.preferences.update(
        msgspec.structs.replace(
            engine.settings, ai=AIConfig(base_url=model.base_url, api_key="sk-test", max_retries=0)
        )
    )

    def answer(request: ChatRequest) -> str:
        # Cite the first chunk the prompt offered, as a well-behaved model would.
        match = re.search(r'<chunk id="([^"]+)"', request.text)
        chunk = match.group(1) if match else "none"
        return json.dumps(
            {
                "reply": "Po, të dielën jemi hapur 10:00–18:00.",
                "cited_chunk_ids": [chunk],
                "confidence": 0.95,
                "handoff": False,
                "handoff_reason": None,
            }
        )

    model.fake.responder = answer
    channel_id = await _messenger_channel(engine)
    await engine.channels.set_policy(channel_id, ChannelPolicy(mode="auto", threshold=0.8))
    now = time.time_ns() // 1_000_000
    assert (
        post_meta(
            relay.url, messenger_text("PAGE1", "PSID7", "m-sunday", "A jeni hapur të dielën?", now)
        ).status_code
        == 200
    )
    await wait_for(lambda: len(_sends(fake)) == 1)
    (request,) = _sends(fake)
    assert request.json["recipient"] == {"id": "PSID7"}
    assert request.json["message"]["text"] == "Po, të dielën jemi hapur 10:00–18:00."
    assert request.json["messaging_type"] == "RESPONSE"
    prompt = model.fake.chat_requests[0]
    assert "10:00–18:00" in json.dumps(prompt, ensure_ascii=False)  # the FAQ was retrieved

    async def sent_stored() -> bool:
        (conversation,) = await engine.store.list_conversations()
        messages = await engine.store.messages(conversation.id)
        return [m.status for m in messages if m.direction == "out"] == ["sent"]

    await wait_for(sent_stored)


async def test_manual_mode_waits_for_approval(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """With no model configured the extractive drafter answers, and manual mode waits."""
    fake, _ = fake_graph
    now = time.time_ns() // 1_000_000
    async with settles(engine):
        post_meta(
            relay.url, messenger_text("PAGE1", "PSID8", "m-1", "A jeni të hapur të dielën?", now)
        )
    (draft,) = await engine.store.pending_drafts()
    assert "10:00–18:00" in draft.text and draft.drafter == "extractive"
    assert _sends(fake) == []
    await engine.conversations.approve_draft(draft.id)
    await wait_for(lambda: len(_sends(fake)) == 1)
    assert _sends(fake)[0].json["message"]["text"] == draft.text
