"""A local OpenAI-compatible server (Ollama, LM Studio, llama.cpp's server) drafts and embeds
with nothing but its base URL: no key, its own model names, plain JSON mode."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core import settings as settings_file
from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.drafting import AIConfig
from desktop.core.engine import Engine
from desktop.core.settings import AppSettings, EmbeddingSettings
from tests.fakes.openai import ChatRequest, FakeOpenAI, ServedOpenAI, serve_fake_openai

DIMS = 32


@pytest.fixture
def local_server() -> Iterator[ServedOpenAI]:
    """A server that needs no key and knows only local model names."""
    fake = FakeOpenAI(api_key=None, models=("llama3.1:8b", "nomic-embed-text"), embedding_dims=DIMS)
    with serve_fake_openai(fake) as served:
        yield served


def _answer(request: ChatRequest) -> str:
    match = re.search(r'<chunk id="([^"]+)"', request.text)
    return json.dumps(
        {
            "reply": "Po, të dielën jemi hapur 10:00–18:00.",
            "cited_chunk_ids": [match.group(1)] if match else [],
            "confidence": 0.9,
            "handoff": False,
            "handoff_reason": None,
        }
    )


async def test_a_local_server_drafts_and_embeds_with_only_a_base_url(
    tmp_path: Path, local_server: ServedOpenAI
) -> None:
    """Settings with a base URL and no key: the knowledge base gets vectors from the local
    embedding model, search is hybrid, and the local chat model writes a cited draft."""
    settings = AppSettings(
        ai=AIConfig(base_url=local_server.base_url, model="llama3.1:8b", json_mode="json_object"),
        embeddings=EmbeddingSettings(enabled=True, model="nomic-embed-text", dims=DIMS),
    )
    settings_file.save(tmp_path / "settings.json", settings)
    local_server.fake.responder = _answer
    engine = await Engine.open(tmp_path, credentials=EncryptedFileCredentials(tmp_path / "s"))
    try:
        assert engine.settings.ai_configured and engine.settings.ai.api_key is None
        await engine.kb.add_faq("A jeni të hapur të dielën?", "Po, nga ora 10:00 deri 18:00.")
        assert engine.kb.vectors_ready
        result = await engine.knowledge.ask("A punoni të dielën?")
        assert result.draft.drafter == "llm"
        assert result.draft.cited_chunk_ids == (result.hits[0].chunk_id,)
        assert not result.draft.handoff
    finally:
        await engine.close()
    paths = [r.path for r in local_server.fake.requests]
    assert "/v1/embeddings" in paths and "/v1/chat/completions" in paths
    chat = local_server.fake.requests_to("/v1/chat/completions")[0]
    assert chat.json()["model"] == "llama3.1:8b"
    assert chat.json()["response_format"] == {"type": "json_object"}
