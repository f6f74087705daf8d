"""The fake OpenAI server speaks the protocol the real client expects, errors included."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai import (
    ChatRequest,
    Delay,
    Error,
    FakeOpenAI,
    Reply,
    ServedOpenAI,
    serve_fake_openai,
)

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You answer in JSON."},
    {"role": "user", "content": "Sa kushton dërgesa?"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(embedding_dims=16)) as running:
        yield running


@pytest.fixture
def served(server: ServedOpenAI) -> ServedOpenAI:
    server.fake.reset()
    return server


@pytest.fixture
async def client(served: ServedOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    api = openai.AsyncOpenAI(base_url=served.base_url, api_key=served.api_key, max_retries=0)
    yield api
    await api.close()


@pytest.fixture
async def raw(served: ServedOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {served.api_key}"}
    async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as http:
        yield http


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_chat_answers_scripted_steps_then_the_responder(
    served: ServedOpenAI, client: openai.AsyncOpenAI
) -> None:
    """Queued replies are used in order, then the responder sees the parsed request."""
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> str:
        seen.append(request)
        return "from responder: " + request.content_of("user")

    served.fake.responder = responder
    served.fake.push("first", Reply("second", model="gpt-4o-mini-2024-07-18"))
    contents = []
    for _ in range(3):
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        contents.append((completion.choices[0].message.content, completion.model))
    assert contents == [
        ("first", "gpt-4o-mini"),
        ("second", "gpt-4o-mini-2024-07-18"),
        ("from responder: Sa kushton dërgesa?", "gpt-4o-mini"),
    ]
    assert seen[0].model == "gpt-4o-mini"
    assert "JSON" in seen[0].text
    assert len(served.fake.chat_requests) == 3


async def test_chat_usage_is_plausible(client: openai.AsyncOpenAI) -> None:
    """Usage counts grow with the text, and total is prompt plus completion."""
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 10
    assert usage.completion_tokens > 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_streaming_sends_chunks_and_a_final_usage_chunk(
    served: ServedOpenAI, client: openai.AsyncOpenAI
) -> None:
    """With stream and include_usage, deltas rebuild the reply and the last chunk has usage."""
    served.fake.push("Dërgesa kushton 2 €, falas mbi 30 €.")
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert text == "Dërgesa kushton 2 €, falas mbi 30 €."
    assert finish == "stop"
    assert usage is not None
    assert usage.completion_tokens > 0


async def test_stream_ends_with_done_frame(served: ServedOpenAI, raw: httpx.AsyncClient) -> None:
    """The raw SSE body is data: frames, the last one being data: [DONE]."""
    served.fake.push("hello there")
    response = await raw.post(
        "/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    assert "usage" not in json.loads(frames[-2].removeprefix("data: "))


async def test_embeddings_float_and_base64_agree(client: openai.AsyncOpenAI) -> None:
    """Both encodings decode to the same deterministic unit vectors of the configured size."""
    texts = ["delivery to Prizren", "delivery to Prizren price", "opening hours on Sunday"]
    as_float = await client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    as_base64 = await client.embeddings.create(model="text-embedding-3-small", input=texts)
    vectors = [d.embedding for d in as_float.data]
    decoded = [d.embedding for d in as_base64.data]
    assert all(len(v) == 16 for v in vectors)
    for a, b in zip(vectors, decoded, strict=True):
        assert all(
            math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
        )
    assert math.isclose(_cosine(vectors[0], vectors[0]), 1.0, rel_tol=1e-9)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert as_float.usage.prompt_tokens > 0


async def test_embeddings_dimensions_parameter(client: openai.AsyncOpenAI) -> None:
    """The dimensions parameter overrides the fake's default size."""
    result = await client.embeddings.create(
        model="text-embedding-3-small", input="x", dimensions=64, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 64


async def test_models_are_listed(client: openai.AsyncOpenAI) -> None:
    """GET /v1/models lists the configured models."""
    page = await client.models.list()
    assert {m.id for m in page.data} == {"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}


async def test_wrong_key_gets_openai_style_401(served: ServedOpenAI) -> None:
    """A wrong Bearer key is refused with 401 and an OpenAI error body, and recorded."""
    bad = openai.AsyncOpenAI(base_url=served.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        await bad.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    await bad.close()
    assert caught.value.code == "invalid_api_key"
    assert [r.status for r in served.fake.requests] == [401]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "gpt-4o-mini", "messages": []}, "messages"),
        ({"model": "gpt-4o-mini", "messages": [{"role": "boss", "content": "x"}]}, "role"),
        (
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_object"},
            },
            "json",
        ),
        (
            {
                "model": "gpt-4o-mini",
                "messages": MESSAGES,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "x",
                        "strict": True,
                        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                },
            },
            "additionalProperties",
        ),
    ],
)
async def test_invalid_chat_requests_get_400(
    raw: httpx.AsyncClient, body: dict[str, object], fragment: str
) -> None:
    """Requests OpenAI would reject are rejected with 400 and a message naming the problem."""
    response = await raw.post("/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


async def test_injected_errors_carry_status_and_retry_after(
    served: ServedOpenAI, raw: httpx.AsyncClient
) -> None:
    """Scripted 429 and 500 answers have OpenAI error bodies; 429 carries Retry-After."""
    served.fake.push(Error(429, retry_after="2"), Error(500))
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    limited = await raw.post("/chat/completions", json=body)
    broken = await raw.post("/chat/completions", json=body)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["error"]["type"] == "requests"
    assert broken.status_code == 500
    assert broken.json()["error"]["type"] == "server_error"
    assert served.fake.pending == 0


async def test_short_delay_then_answer(served: ServedOpenAI, client: openai.AsyncOpenAI) -> None:
    """A delay shorter than the client's patience is followed by its scripted answer."""
    served.fake.push(Delay(0.05, then=Reply("after a pause")))
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "after a pause"
    assert "Sa kushton" in served.fake.seen_text


async def test_fake_without_key_accepts_any_bearer() -> None:
    """A fake configured with api_key=None accepts every request, as a local server would."""
    with serve_fake_openai(FakeOpenAI(api_key=None)) as running:
        api = openai.AsyncOpenAI(base_url=running.base_url, api_key="anything", max_retries=0)
        page = await api.models.list()
        await api.close()
    assert page.data
