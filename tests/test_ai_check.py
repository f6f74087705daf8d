""" "Test connection" in settings: a real (fake) OpenAI server answers, or says what is wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.core.ai_check import check_ai
from desktop.core.drafting.config import AIConfig
from desktop.core.settings import EmbeddingSettings
from tests.fakes.openai import FakeOpenAI, ServedOpenAI, serve_fake_openai


@pytest.fixture(scope="module")
def server() -> Iterator[ServedOpenAI]:
    with serve_fake_openai(FakeOpenAI(embedding_dims=16)) as running:
        yield running


async def test_a_working_endpoint_answers_chat_and_embeddings(server: ServedOpenAI) -> None:
    """Both the chat model and the embedding model answer; a width mismatch is named."""
    config = AIConfig(base_url=server.base_url, api_key=server.api_key, model="gpt-4o-mini")
    good = await check_ai(
        config, EmbeddingSettings(enabled=True, model="text-embedding-3-small", dims=16)
    )
    assert [(r.name, r.ok) for r in good] == [("chat", True), ("embeddings", True)]
    assert "gpt-4o-mini" in good[0].words
    assert "16 numbers" in good[1].words
    wrong = await check_ai(
        config, EmbeddingSettings(enabled=True, model="text-embedding-3-small", dims=1536)
    )
    assert not wrong[1].ok
    assert "expects 1536" in wrong[1].words


async def test_embeddings_not_configured_are_not_an_error(server: ServedOpenAI) -> None:
    """A shop without an embedding model sees "not used", not a red failure, and the
    endpoint is not asked for vectors at all."""
    config = AIConfig(base_url=server.base_url, api_key=server.api_key, model="gpt-4o-mini")
    before = len(server.fake.requests_to("/v1/embeddings"))
    for off in (EmbeddingSettings(), EmbeddingSettings(enabled=True, model=" ")):
        results = await check_ai(config, off)
        assert [(r.name, r.ok) for r in results] == [("chat", True), ("embeddings", True)]
        assert results[1].words.startswith("not used")
    assert len(server.fake.requests_to("/v1/embeddings")) == before


async def test_a_wrong_key_or_address_is_said_plainly(server: ServedOpenAI) -> None:
    """A refused key and an unreachable address each come back as a sentence, not a crash."""
    refused = await check_ai(AIConfig(base_url=server.base_url, api_key="sk-wrong"))
    assert [r.ok for r in refused] == [False]
    assert "refused the key" in refused[0].words
    assert "sk-wrong" not in refused[0].words
    nowhere = await check_ai(AIConfig(base_url="http://127.0.0.1:9/v1", api_key="k"))
    assert "Cannot reach" in nowhere[0].words
