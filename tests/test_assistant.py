"""The assistant at work against the real relay: bursts, take-overs, hand-offs, budgets."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest

from desktop.core.assistant import DRAFTS_AT_ONCE
from desktop.core.autopilot import ChannelPolicy, OpeningHours
from desktop.core.drafting import AIConfig
from desktop.core.engine import Engine
from desktop.core.store.drafts import SAME_TEXT_SENT
from tests.engine_helpers import citing_answer, now_ms, open_engine, settles, wait_for
from tests.fakes.graph import FakeGraph, Recorded
from tests.fakes.openai import (
    ChatRequest,
    Delay,
    Error,
    FakeOpenAI,
    Reply,
    ServedOpenAI,
    serve_fake_openai,
)
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text, post_meta

FakeGraphServer = tuple[FakeGraph, ServedApp]
ANSWER = "Po, të dielën jemi hapur 10:00–18:00."


@pytest.fixture
def model() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(api_key="sk-test")) as served:
        yield served


@pytest.fixture
async def engine(tmp_path: Path, relay: ServedApp, model: ServedOpenAI) -> AsyncIterator[Engine]:
    """An engine with a model, a Messenger page in auto mode and one FAQ."""
    engine = await open_engine(tmp_path / "desktop", relay.url)
    channel = next(c for c in await engine.store.channels() if c.platform == "messenger")
    await engine.preferences.update(
        msgspec.structs.replace(
            engine.settings,
            ai=AIConfig(base_url=model.base_url, api_key="sk-test", max_retries=0, timeout_s=5),
            policies={channel.id: ChannelPolicy(mode="auto", threshold=0.8)},
        )
    )
    await engine.kb.add_faq("A jeni të hapur të dielën?", ANSWER, ["orari i së dielës"])
    model.fake.responder = citing_answer(ANSWER)
    try:
        yield engine
    finally:
        await engine.close()


def sent(fake: FakeGraph) -> list[Recorded]:
    """Messages sent through Graph (the token check on connecting is a GET, left out)."""
    return [r for r in fake.requests if r.method == "POST"]


def _write(relay: ServedApp, text: str, mid: str, psid: str = "PSID1") -> None:
    assert (
        post_meta(relay.url, messenger_text("PAGE1", psid, mid, text, now_ms())).status_code == 200
    )


async def _conversation_id(engine: Engine) -> int:
    await wait_for(engine.store.list_conversations)
    (conversation,) = await engine.store.list_conversations()
    return conversation.id


async def test_a_burst_is_one_turn_and_gets_one_reply(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """Three quick messages are answered once, with all three in the prompt."""
    fake, _ = fake_graph
    async with settles(engine, inbound=3):
        for i, text in enumerate(["Përshëndetje", "a jeni hapur", "të dielën?"]):
            _write(relay, text, f"b{i}")
    assert len(sent(fake)) == 1
    assert len(model.fake.chat_requests) == 1
    prompt = model.fake.chat_requests[0]["messages"][-1]["content"]
    assert "Përshëndetje" in prompt and "të dielën?" in prompt


async def test_a_crowd_is_drafted_a_few_at_a_time(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """Ten customers writing at once all get a draft, with no more than DRAFTS_AT_ONCE
    requests at the model together (the rest wait their turn, none is dropped)."""
    customers = 10
    unsure = json.dumps(
        {
            "reply": ANSWER,
            "cited_chunk_ids": [],
            "confidence": 0.3,
            "handoff": False,
            "handoff_reason": None,
        }
    )
    model.fake.push(*[Delay(0.3, then=Reply(unsure)) for _ in range(customers)])
    async with settles(engine, inbound=customers):
        for n in range(customers):
            _write(relay, "A jeni hapur të dielën?", f"c{n}", psid=f"PSID{n}")
    assert len(model.fake.chat_requests) == customers
    assert 1 < model.fake.most_at_once <= DRAFTS_AT_ONCE
    drafts = await engine.store.pending_drafts()
    assert len({d.conversation_id for d in drafts}) == customers


async def test_a_newer_message_supersedes_a_draft_in_progress(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """A message arriving while the model thinks drops that draft; the answer covers both."""
    fake, _ = fake_graph
    model.fake.push(
        Delay(
            1.0,
            then=Reply(
                '{"reply": "stale", "cited_chunk_ids": [], '
                '"confidence": 0.99, "handoff": false, '
                '"handoff_reason": null}'
            ),
        )
    )
    _write(relay, "A jeni hapur?", "s1")
    await wait_for(lambda: len(model.fake.chat_requests) == 1)
    async with settles(engine):
        _write(relay, "të dielën?", "s2")
    assert [r.json["message"]["text"] for r in sent(fake)] == [ANSWER]


async def test_owner_reply_silences_the_assistant_until_handed_back(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """After a hand-written reply the assistant stays quiet; hand back and it answers again."""
    fake, _ = fake_graph
    _write(relay, "A jeni hapur të dielën?", "o1")
    await wait_for(lambda: len(sent(fake)) == 1)
    conversation_id = await _conversation_id(engine)
    await engine.conversations.send_manual(conversation_id, "Po, ejani!")
    await wait_for(lambda: len(sent(fake)) == 2)
    async with settles(engine):
        _write(relay, "Edhe të dielën tjetër jeni të hapur?", "o2")
    assert len(sent(fake)) == 2
    assert await engine.store.pending_drafts() == []
    await engine.conversations.hand_back(conversation_id)
    await wait_for(lambda: len(sent(fake)) == 3)


async def test_an_echo_from_the_page_inbox_pauses_the_assistant(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """A reply the owner typed in Meta's own inbox (an echo) silences the assistant."""
    fake, _ = fake_graph
    _write(relay, "A jeni hapur të dielën?", "e0")
    await wait_for(lambda: len(sent(fake)) == 1)
    echo = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE1",
                "time": now_ms(),
                "messaging": [
                    {
                        "sender": {"id": "PAGE1"},
                        "recipient": {"id": "PSID1"},
                        "timestamp": now_ms(),
                        "message": {
                            "mid": "echo-1",
                            "is_echo": True,
                            "app_id": 263902037430900,
                            "text": "I'm on it (from my phone)",
                        },
                    }
                ],
            }
        ],
    }
    assert post_meta(relay.url, echo).status_code == 200

    async def paused() -> bool:
        conversation = await engine.store.conversation(await _conversation_id(engine))
        return conversation is not None and conversation.assistant_paused

    await wait_for(paused)
    async with settles(engine):
        _write(relay, "Edhe të shtunën?", "e1")
    assert len(sent(fake)) == 1


async def _emptied(engine: Engine) -> bool:
    drafts = await engine.store.pending_drafts()
    return bool(drafts) and drafts[0].text == ""


async def test_asking_for_a_person_hands_off_with_the_shops_message(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """'I want a person' never gets a model answer; the hand-off message goes out once, and
    the hand-off waits for the owner without those words, so approving cannot resend them."""
    fake, _ = fake_graph
    _write(relay, "Dua të flas me një njeri, ju lutem", "h1")
    await wait_for(lambda: len(sent(fake)) == 1)
    assert sent(fake)[0].json["message"]["text"] == engine.settings.profile.message("handoff", "sq")
    assert model.fake.chat_requests == []
    await wait_for(lambda: _emptied(engine))
    (draft,) = await engine.store.pending_drafts()  # still waits for a person
    assert draft.handoff and draft.hold_reason
    assert draft.text == ""
    assert draft.withdrawn_reason == SAME_TEXT_SENT


async def test_garbage_from_the_model_is_never_sent(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """Invalid JSON twice becomes a hand-off for the owner; only the hand-off notice goes out."""
    fake, _ = fake_graph
    model.fake.responder = None
    model.fake.push(Reply("this is not json"), Reply("{still not"))
    _write(relay, "A jeni hapur të dielën?", "g1")

    await wait_for(engine.store.pending_drafts)
    (draft,) = await engine.store.pending_drafts()
    assert draft.handoff and draft.error
    texts = [r.json["message"]["text"] for r in sent(fake)]
    assert "not json" not in " ".join(texts)
    assert texts in ([], [engine.settings.profile.message("handoff", "sq")])


async def test_a_confident_model_citing_a_chunk_retrieval_doubts_is_not_sent(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """The model says 0.99 for the Sunday-hours FAQ, but the question is about delivery and
    the delivery FAQ fits it: the shown confidence is the calibrated one, under the
    channel's 0.8, and the draft waits for the owner."""
    fake, _ = fake_graph
    await engine.kb.add_faq("Sa kushton dërgesa?", "Dërgesa kushton 2 € në gjithë Kosovën.")

    def sunday_hours(request: ChatRequest) -> str:
        chunks = re.findall(r'<chunk id="([^"]+)"[^>]*>(.*?)</chunk>', request.text, re.DOTALL)
        cited = [chunk_id for chunk_id, text in chunks if "dielën" in text]
        return json.dumps(
            {"reply": ANSWER, "cited_chunk_ids": cited, "confidence": 0.99, "handoff": False}
        )

    model.fake.responder = sunday_hours
    _write(relay, "Sa kushton dërgesa në Pejë të dielën?", "c1")

    await wait_for(engine.store.pending_drafts)
    (draft,) = await engine.store.pending_drafts()
    assert draft.drafter == "llm" and draft.cited_chunk_ids
    assert draft.confidence is not None and draft.confidence < 0.8
    assert draft.hold_reason and "Confidence" in draft.hold_reason
    assert ANSWER not in [r.json["message"]["text"] for r in sent(fake)]


async def test_an_exhausted_ai_budget_falls_back_to_the_knowledge_base_never_silence(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer, model: ServedOpenAI
) -> None:
    """With the AI budget gone, auto mode sends a confident answer from the knowledge base,
    and for an answer below the channel's threshold, the courtesy message in the customer's
    language; the model is not asked again meanwhile."""
    fake, _ = fake_graph
    model.fake.responder = None
    model.fake.push(Error(429, code="insufficient_quota", type="insufficient_quota"))
    async with settles(engine):
        _write(relay, "A jeni të hapur të dielën?", "q1")
    assert engine.assistant.budget_exhausted
    await wait_for(lambda: len(sent(fake)) == 1)
    assert sent(fake)[0].json["message"]["text"] == ANSWER
    channel = next(c for c in await engine.store.channels() if c.platform == "messenger")
    await engine.channels.set_policy(channel.id, ChannelPolicy(mode="auto", threshold=0.999))
    async with settles(engine):
        _write(relay, "A jeni të hapur të dielën?", "q2", psid="PSID2")
    await wait_for(lambda: len(sent(fake)) == 2)
    assert sent(fake)[1].json["message"]["text"] == engine.settings.profile.message(
        "courtesy", "sq"
    )
    held = [d for d in await engine.store.pending_drafts() if d.drafter == "extractive"]
    assert held and held[0].hold_reason and "budget" in held[0].hold_reason
    assert len(model.fake.chat_requests) == 1


async def test_outside_opening_hours_the_away_message_goes_out(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Auto mode outside opening hours sends the away message and keeps the answer for later."""
    fake, _ = fake_graph
    await engine.preferences.update(
        msgspec.structs.replace(
            engine.settings, hours=OpeningHours(spec="Mon 0:00-0:01", timezone="Pacific/Kiritimati")
        )
    )
    _write(relay, "A jeni hapur të dielën?", "a1")
    await wait_for(lambda: len(sent(fake)) == 1)
    assert sent(fake)[0].json["message"]["text"] == engine.settings.profile.message("away", "sq")
    (draft,) = await engine.store.pending_drafts()
    assert draft.hold_reason and "opening hours" in draft.hold_reason


async def test_shadow_mode_drafts_silently_and_scores_the_owners_reply(
    engine: Engine, relay: ServedApp, fake_graph: FakeGraphServer
) -> None:
    """Shadow drafts never reach the queue; the owner's reply is scored against them."""
    fake, _ = fake_graph
    channel = next(c for c in await engine.store.channels() if c.platform == "messenger")
    await engine.channels.set_policy(channel.id, ChannelPolicy(mode="shadow"))
    _write(relay, "A jeni hapur të dielën?", "sh1")
    conversation_id = await _conversation_id(engine)

    async def drafted() -> bool:
        return any(d.state == "shadow" for d in await engine.store.drafts(conversation_id))

    await wait_for(drafted)
    assert await engine.store.pending_drafts() == []
    await engine.conversations.send_manual(conversation_id, "Po, të dielën jemi hapur 10:00-18:00")

    async def scored() -> bool:
        return bool((await engine.usage.stats()).shadow)

    await wait_for(scored)
    stats = await engine.usage.stats()
    per_channel = next(s for s in stats.shadow if s.topic is None)
    assert (per_channel.channel_id, per_channel.compared, per_channel.agreed) == (channel.id, 1, 1)
    assert len(sent(fake)) == 1


async def test_two_devices_in_auto_mode_send_one_reply(
    tmp_path: Path,
    engine: Engine,
    relay: ServedApp,
    fake_graph: FakeGraphServer,
    model: ServedOpenAI,
) -> None:
    """Two desktops of one shop both draft, but only one automatic reply reaches the customer."""
    fake, _ = fake_graph
    second = await open_engine(
        tmp_path / "second", relay.url, new_account=False, connect_page=False
    )
    try:
        await second.preferences.update(
            msgspec.structs.replace(
                second.settings, ai=engine.settings.ai, policies=engine.settings.policies
            )
        )
        await second.kb.add_faq("A jeni të hapur të dielën?", ANSWER)
        async with settles(engine, second):
            _write(relay, "A jeni hapur të dielën?", "d1")
        assert len(model.fake.chat_requests) == 2
        assert len(sent(fake)) == 1
    finally:
        await second.close()
