"""The LLM drafter over real HTTP against the fake OpenAI server: answers, checks, failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence

import httpx
import httpx2
import msgspec
import pytest

from common.channels import Platform
from desktop.core.drafting import (
    AIConfig,
    BusinessProfile,
    Draft,
    DraftRequest,
    LLMDrafter,
    Turn,
)
from desktop.core.drafting.answer import UNGROUNDED_CONFIDENCE_CAP
from desktop.core.drafting.handoff import ASKED_FOR_PERSON
from desktop.core.drafting.llm import (
    KEY_REJECTED_REASON,
    RATE_LIMIT_REASON,
    SERVER_ERROR_REASON,
    TIMEOUT_REASON,
    UNREACHABLE_REASON,
    UNREADABLE_REASON,
)
from desktop.core.drafting.messages import CannedMessages, message_language
from desktop.core.kb.models import SearchHit
from tests.fakes.openai import (
    ChatRequest,
    Delay,
    Error,
    Raw,
    Reply,
    ServedOpenAI,
    serve_fake_openai,
)

PROFILE = BusinessProfile(
    name="Arta Shop",
    messages={
        "sq": CannedMessages(
            handoff="Një koleg do t'ju përgjigjet së shpejti.",
            away="Jemi të mbyllur tani; ju përgjigjemi nesër nga ora 9.",
            courtesy="Faleminderit, ju përgjigjemi së shpejti.",
            limit="Faleminderit, një koleg ju përgjigjet sa më shpejt.",
        )
    },
    hours="E hënë–e shtunë 9–20",
    rules=("Mos jep zbritje që nuk janë në ofertë.",),
)
DELIVERY = SearchHit(
    chunk_id="faq-delivery#0",
    item_id="faq-delivery",
    item_type="faq",
    title="Sa kushton dërgesa?",
    text="Dërgesa në gjithë Kosovën kushton 2 €, falas për porosi mbi 30 €.",
    score=0.92,
)
JACKET = SearchHit(
    chunk_id="offer-jacket#0",
    item_id="offer-jacket",
    item_type="offer",
    title="Xhaketë dimri",
    text="Xhaketë e zezë, madhësitë S–XL. Çmimi 49 €. Oferta vlen deri më 31.12.2026.",
    score=0.41,
)
HITS = (DELIVERY, JACKET)
NOW_MS = 1_780_000_000_000


def make_request(
    text: str,
    *,
    platform: Platform = "messenger",
    hits: Sequence[SearchHit] = HITS,
    earlier: Sequence[Turn] = (),
) -> DraftRequest:
    turns = [*earlier, Turn(role="customer", text=text, timestamp_ms=NOW_MS)]
    return DraftRequest(profile=PROFILE, platform=platform, turns=turns, hits=hits)


def answer(
    reply: str,
    cited: Sequence[str] = ("faq-delivery#0",),
    *,
    confidence: float = 0.9,
    handoff: bool = False,
    reason: str | None = None,
) -> str:
    return json.dumps(
        {
            "reply": reply,
            "cited_chunk_ids": list(cited),
            "confidence": confidence,
            "handoff": handoff,
            "handoff_reason": reason,
        },
        ensure_ascii=False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServedOpenAI]:
    with serve_fake_openai() as running:
        yield running


@pytest.fixture
def served(server: ServedOpenAI) -> ServedOpenAI:
    server.fake.reset()
    return server


@pytest.fixture
def config(served: ServedOpenAI) -> AIConfig:
    return AIConfig(base_url=served.base_url, api_key=served.api_key, timeout_s=5, backoff_s=0.01)


async def draft_with(config: AIConfig, request: DraftRequest) -> Draft:
    async with LLMDrafter(config) as drafter:
        return await drafter.draft(request)


async def test_grounded_draft_cites_chunks_in_customer_language(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """The prompt carries the chunks, their ids and the language; the draft cites the FAQ."""
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> str:
        seen.append(request)
        return answer("Dërgesa kushton 2 €, falas mbi 30 €.", ["faq-delivery#0"])

    served.fake.responder = responder
    draft = await draft_with(config, make_request("Përshëndetje, sa kushton dërgesa në Pejë?"))

    assert draft.reply == "Dërgesa kushton 2 €, falas mbi 30 €."
    assert draft.cited_chunk_ids == ("faq-delivery#0",)
    assert (draft.grounded, draft.handoff, draft.language, draft.drafter) == (
        True,
        False,
        "sq",
        "llm",
    )
    assert draft.model_confidence == 0.9
    assert draft.confidence > 0.95  # calibrated: the FAQ clearly answers the question
    assert draft.error is None
    system, user = seen[0].content_of("system"), seen[0].content_of("user")
    assert "reply in Albanian" in system
    assert "Arta Shop" in system
    assert "Mos jep zbritje" in system
    assert "1000" not in system and "2000 characters" in system  # Messenger's limit
    assert '<chunk id="faq-delivery#0" type="faq">' in user
    assert '<chunk id="offer-jacket#0" type="offer">' in user
    assert "falas për porosi mbi 30 €" in user
    assert "sa kushton dërgesa në Pejë?" in user


async def test_cyrillic_message_asks_for_cyrillic_reply(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """A Serbian Cyrillic message makes the prompt ask for Serbian in Cyrillic script."""
    served.fake.push(answer("Достава кошта 2 €."))
    draft = await draft_with(config, make_request("Колико кошта достава до Грачанице?"))
    assert draft.language == "sr"
    assert (
        "reply in Serbian in Cyrillic script"
        in served.fake.chat_requests[0]["messages"][0]["content"]
    )


async def test_request_uses_strict_json_schema(served: ServedOpenAI, config: AIConfig) -> None:
    """By default the request asks for Structured Outputs with a strict, closed schema."""
    served.fake.push(answer("Dërgesa kushton 2 €."))
    await draft_with(config, make_request("Sa kushton dërgesa?"))
    body = served.fake.chat_requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "reply",
        "cited_chunk_ids",
        "confidence",
        "handoff",
        "handoff_reason",
    }
    assert "stream" not in body


async def test_json_object_mode_is_a_config_fallback(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """json_mode="json_object" sends plain JSON mode (accepted: the prompt mentions JSON)."""
    served.fake.push(answer("Dërgesa kushton 2 €."))
    draft = await draft_with(
        msgspec.structs.replace(config, json_mode="json_object"),
        make_request("Sa kushton dërgesa?"),
    )
    assert served.fake.chat_requests[0]["response_format"] == {"type": "json_object"}
    assert draft.grounded


async def test_invalid_json_is_retried_once(served: ServedOpenAI, config: AIConfig) -> None:
    """An unreadable answer gets one repair request, and its usage is added to the first."""
    served.fake.push(
        Reply("Sure! Delivery is 2 €", usage=(500, 10)), Reply(answer("2 €."), usage=(600, 20))
    )
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.reply == "2 €."
    assert not draft.handoff
    assert draft.usage is not None
    assert (draft.usage.prompt_tokens, draft.usage.completion_tokens) == (1100, 30)
    repair = served.fake.chat_requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! Delivery is 2 €"}
    assert "could not be used" in repair[-1]["content"]


@pytest.mark.parametrize(
    "bad",
    ["not json at all", '{"reply": 3, "cited_chunk_ids": []}', '{"reply": "x"}', "[]"],
)
async def test_unreadable_answers_twice_hand_off(
    served: ServedOpenAI, config: AIConfig, bad: str
) -> None:
    """Invalid JSON or a wrong shape twice in a row becomes a hand-off that keeps the error."""
    served.fake.push(bad, bad)
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff
    assert draft.handoff_reason == UNREADABLE_REASON
    assert draft.error is not None
    assert draft.error.startswith("invalid model output")
    assert draft.reply == PROFILE.message("handoff", "sq")
    assert len(served.fake.chat_requests) == 2


async def test_fenced_json_is_accepted(served: ServedOpenAI, config: AIConfig) -> None:
    """A JSON answer wrapped in a Markdown code fence is read without a retry."""
    served.fake.push("```json\n" + answer("Dërgesa kushton 2 €.") + "\n```")
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.grounded
    assert len(served.fake.chat_requests) == 1


async def test_unknown_cited_ids_are_dropped(served: ServedOpenAI, config: AIConfig) -> None:
    """Citations of chunks that were not retrieved are dropped; with none left it is ungrounded."""
    served.fake.push(answer("Dërgesa është falas gjithmonë.", ["faq-made-up#3"], confidence=0.95))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.cited_chunk_ids == ()
    assert not draft.grounded
    assert draft.confidence <= UNGROUNDED_CONFIDENCE_CAP


async def test_known_ids_survive_among_unknown(served: ServedOpenAI, config: AIConfig) -> None:
    """Only the unknown ids are dropped; known ones stay, once each, in order."""
    cited = ["x#1", "offer-jacket#0", "faq-delivery#0", "offer-jacket#0"]
    served.fake.push(answer("Xhaketa kushton 49 €, dërgesa 2 €.", cited))
    draft = await draft_with(config, make_request("Sa kushton xhaketa me dërgesë?"))
    assert draft.cited_chunk_ids == ("offer-jacket#0", "faq-delivery#0")
    assert draft.grounded


async def test_timeout_hands_off_with_reason() -> None:
    """A server slower than the timeout, on every attempt, becomes a hand-off saying so."""
    with serve_fake_openai() as served:
        served.fake.push(Delay(30), Delay(30))
        config = AIConfig(
            base_url=served.base_url,
            api_key=served.api_key,
            timeout_s=0.3,
            max_retries=1,
            backoff_s=0.01,
        )
        draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff
    assert draft.handoff_reason == TIMEOUT_REASON
    assert draft.error is not None
    assert "Timeout" in draft.error
    assert served.fake.pending == 0  # both attempts were made


async def test_rate_limit_then_success(served: ServedOpenAI, config: AIConfig) -> None:
    """A 429 with Retry-After is waited out and the next attempt's answer is used."""
    served.fake.push(Error(429, retry_after="0"), answer("Dërgesa kushton 2 €."))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.grounded
    assert not draft.handoff
    assert [r.status for r in served.fake.requests] == [429, 200]


async def test_long_retry_after_gives_up_at_once(served: ServedOpenAI, config: AIConfig) -> None:
    """A Retry-After beyond the longest back-off ends the attempts: no draft waits minutes."""
    served.fake.push(Error(429, retry_after="120"), answer("never used"))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff_reason == RATE_LIMIT_REASON
    assert len(served.fake.chat_requests) == 1


async def test_server_errors_exhaust_bounded_retries(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """5xx answers are retried max_retries times, then handed off with the status."""
    served.fake.push(Error(500), Error(503), Error(500), answer("never used"))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff
    assert draft.handoff_reason == "The AI service had an error (HTTP 500)"
    assert len(served.fake.chat_requests) == 3


async def test_unreadable_completion_hands_off_without_retry(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """A 200 whose body is not a chat completion is a service error, not a crash or a retry."""
    served.fake.push(Raw(b"<html>upstream proxy error</html>", content_type="text/html"))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff_reason == SERVER_ERROR_REASON
    assert draft.error is not None and "unreadable completion" in draft.error
    assert len(served.fake.chat_requests) == 1


async def test_key_goes_in_the_header_and_never_into_the_error(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """The API key is sent as a Bearer token and appears in no draft error after failures."""
    served.fake.push(Error(503, retry_after="0"), Error(500), Error(502))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff_reason == "The AI service had an error (HTTP 502)"
    assert {r.headers["authorization"] for r in served.fake.requests} == {
        f"Bearer {served.api_key}"
    }
    assert draft.error is not None and served.api_key not in draft.error


async def test_rejected_key_hands_off_without_retry(served: ServedOpenAI, config: AIConfig) -> None:
    """A 401 is not retried and reads "AI key rejected"."""
    wrong = msgspec.structs.replace(config, api_key="sk-not-this-one")
    draft = await draft_with(wrong, make_request("Sa kushton dërgesa?"))
    assert draft.handoff_reason == KEY_REJECTED_REASON
    assert draft.error is not None
    assert "401" in draft.error
    assert [r.status for r in served.fake.requests] == [401]


async def test_unreachable_service_hands_off() -> None:
    """A refused connection becomes a hand-off saying the service could not be reached."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = AIConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff_reason == UNREACHABLE_REASON


async def test_long_reply_is_trimmed_at_a_sentence(served: ServedOpenAI, config: AIConfig) -> None:
    """A reply over the channel's limit is cut at a sentence end below the limit."""
    long_reply = " ".join(f"Sentence {i} says delivery costs 2 €." for i in range(80))
    served.fake.push(answer(long_reply))
    draft = await draft_with(config, make_request("How much is delivery?", platform="instagram"))
    assert len(long_reply) > 1000
    assert len(draft.reply) <= 1000
    assert draft.reply.endswith("costs 2 €.")
    assert long_reply.startswith(draft.reply)


async def test_pii_is_masked_before_the_model_and_restored(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """The API never sees the customer's phone, e-mail or card; the reply gets them back."""
    served.fake.push(
        answer(
            "Faleminderit! Numri [PHONE_1] dhe emaili [EMAIL_1] janë në porosi; kartela [CARD_1]."
        )
    )
    earlier = [
        Turn(role="business", text="Na telefononi në 038 555 123.", timestamp_ms=NOW_MS - 9000),
    ]
    text = (
        "Numri im +383 44 123 456, email arta.krasniqi@gmail.com, "
        "kartela 4111-1111-1111-1111. Sa kushton dërgesa?"
    )
    draft = await draft_with(config, make_request(text, earlier=earlier))

    seen = served.fake.seen_text
    for secret in ("44 123 456", "44123456", "arta.krasniqi", "4111"):
        assert secret not in seen
    prompt = served.fake.chat_requests[0]["messages"][1]["content"]
    assert "Numri im [PHONE_1], email [EMAIL_1], kartela [CARD_1]." in prompt
    assert "038 555 123" in prompt  # the shop's own number is not the customer's data
    assert "+383 44 123 456" in draft.reply
    assert "arta.krasniqi@gmail.com" in draft.reply
    assert "**** 1111" in draft.reply
    assert "4111-1111" not in draft.reply


async def test_pii_masking_can_be_turned_off(served: ServedOpenAI, config: AIConfig) -> None:
    """With mask_pii off the customer's text goes to the model as written."""
    served.fake.push(answer("Dërgesa kushton 2 €."))
    unmasked = msgspec.structs.replace(config, mask_pii=False)
    await draft_with(unmasked, make_request("Tel 044 123 456, sa kushton dërgesa?"))
    assert "044 123 456" in served.fake.chat_requests[0]["messages"][1]["content"]


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a person",
        "dua të flas me një njeri",
        "hoću da pričam sa čovekom",
        "хоћу да причам са човеком",
    ],
)
async def test_asking_for_a_person_hands_off_without_the_model(
    served: ServedOpenAI, config: AIConfig, text: str
) -> None:
    """A request for a person hands off at once; the model is not called."""
    draft = await draft_with(config, make_request(text))
    assert draft.handoff
    assert draft.handoff_reason == ASKED_FOR_PERSON
    assert draft.reply == PROFILE.message("handoff", message_language(text))
    assert draft.usage is None
    assert served.fake.requests == []


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Dua rimbursim për xhaketën", "refund"),
        ("Želim povraćaj novca za jaknu", "refund"),
        ("Ово је жалба на доставу", "complaint"),
        ("I want to make a complaint about my order", "complaint"),
    ],
)
async def test_handoff_topics_hand_off_without_the_model(
    served: ServedOpenAI, config: AIConfig, text: str, topic: str
) -> None:
    """Messages about the profile's hand-off topics go to a person without a model call."""
    draft = await draft_with(config, make_request(text))
    assert draft.handoff
    assert draft.handoff_reason == f"handoff topic: {topic}"
    assert served.fake.requests == []


async def test_model_handoff_is_kept(served: ServedOpenAI, config: AIConfig) -> None:
    """When the model hands off, its short reply and reason are kept."""
    served.fake.push(
        answer(
            "Një koleg do t'ju përgjigjet.", [], confidence=0.2, handoff=True, reason="not in KB"
        )
    )
    draft = await draft_with(config, make_request("A keni parking afër dyqanit?"))
    assert (draft.handoff, draft.handoff_reason) == (True, "not in KB")
    assert draft.reply == "Një koleg do t'ju përgjigjet."
    assert not draft.grounded


async def test_empty_reply_hands_off(served: ServedOpenAI, config: AIConfig) -> None:
    """An empty reply is replaced by the hand-off message."""
    served.fake.push(answer("   "))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff
    assert draft.reply == PROFILE.message("handoff", "sq")
    assert draft.handoff_reason == "the model gave no reply"


async def test_promised_follow_up_forces_handoff(served: ServedOpenAI, config: AIConfig) -> None:
    """A reply promising a call-back is kept for a person to approve, as a hand-off."""
    served.fake.push(answer("Do t'ju telefonojmë nesër për dërgesën."))
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.handoff
    assert draft.handoff_reason == "the reply promises a follow-up by the shop"


async def test_usage_and_cost_from_the_price_table(served: ServedOpenAI, config: AIConfig) -> None:
    """Tokens come from the response; a dated snapshot is priced as its model, cache included."""
    served.fake.push(
        Reply(
            answer("Dërgesa kushton 2 €."),
            usage=(1000, 200),
            cached_tokens=400,
            model="gpt-4o-mini-2024-07-18",
        )
    )
    draft = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert draft.usage is not None
    assert draft.usage.model == "gpt-4o-mini-2024-07-18"
    assert (draft.usage.prompt_tokens, draft.usage.completion_tokens) == (1000, 200)
    expected = (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1_000_000
    assert draft.usage.cost_usd == pytest.approx(expected)


async def test_unknown_model_costs_nothing_but_counts_tokens(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """A model missing from the price table costs 0, and its tokens are still recorded."""
    served.fake.push(Reply(answer("Dërgesa kushton 2 €."), usage=(800, 50)))
    local = msgspec.structs.replace(config, model="llama-3.1-8b-instruct")
    draft = await draft_with(local, make_request("Sa kushton dërgesa?"))
    assert draft.usage is not None
    assert (draft.usage.prompt_tokens, draft.usage.completion_tokens) == (800, 50)
    assert draft.usage.cost_usd == 0.0
    assert draft.usage.model == "llama-3.1-8b-instruct"


async def test_no_customer_message_hands_off(served: ServedOpenAI, config: AIConfig) -> None:
    """A conversation whose last turn is the shop's has nothing to answer."""
    request = DraftRequest(
        profile=PROFILE,
        platform="viber",
        turns=[Turn(role="business", text="Mirë se vini!", timestamp_ms=NOW_MS)],
        hits=HITS,
    )
    draft = await draft_with(config, request)
    assert draft.handoff
    assert served.fake.requests == []


@pytest.mark.parametrize("kind", ["httpx", "httpx2"])
async def test_shared_http_client_is_used_and_left_open(
    served: ServedOpenAI, config: AIConfig, kind: str
) -> None:
    """A caller's httpx or httpx2 client carries the calls and stays open after aclose()."""
    served.fake.push(answer("Dërgesa kushton 2 €."))
    http: httpx.AsyncClient | httpx2.AsyncClient = (
        httpx.AsyncClient() if kind == "httpx" else httpx2.AsyncClient()
    )
    async with http:
        drafter = LLMDrafter(config, http_client=http)
        draft = await drafter.draft(make_request("Sa kushton dërgesa?"))
        await drafter.aclose()
        assert not http.is_closed
    assert draft.grounded


async def test_shown_confidence_is_calibrated_against_what_retrieval_says(
    served: ServedOpenAI, config: AIConfig
) -> None:
    """A model sure of an answer citing a chunk that does not fit the question is shown a
    low confidence; the same model citing the chunk that fits is shown a high one."""
    served.fake.push(
        answer("Dërgesa kushton 2 €.", ["faq-delivery#0"], confidence=0.99),
        answer("Dërgesa kushton 2 €.", ["faq-delivery#0"], confidence=0.99),
    )
    misfit = await draft_with(config, make_request("A keni xhaketa dimri?"))
    fit = await draft_with(config, make_request("Sa kushton dërgesa?"))
    assert misfit.model_confidence == fit.model_confidence == 0.99
    assert misfit.confidence < 0.2
    assert fit.confidence > 0.95
