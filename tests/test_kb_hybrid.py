"""Hybrid search with a real (fake) embeddings server: vectors, fusion, failures, re-embedding."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import lancedb
import numpy as np
import pytest

from desktop.core.kb import (
    EmbeddingError,
    FaqInput,
    KnowledgeBase,
    KnowledgeBaseError,
    OpenAIEmbedder,
)
from desktop.core.kb.store import TABLE
from tests.fakes.embeddings import FakeEmbeddings, serve_embeddings
from tests.fakes.server import serve_app

DIMS = 32
FAQS = [
    ("How much does delivery cost?", "Delivery costs 2 euro inside Kosovo."),
    ("When are you open?", "We are open every day from 9 to 20."),
    ("Can I return shoes?", "Shoes can be returned within 14 days with the receipt."),
    ("Do you sell gift cards?", "Gift cards of 20, 50 and 100 euro are sold in the shop."),
]


@pytest.fixture
def fake() -> Iterator[tuple[FakeEmbeddings, str]]:
    with serve_embeddings(dims=DIMS) as served:
        yield served


@pytest.fixture
async def embedder(fake: tuple[FakeEmbeddings, str]) -> AsyncIterator[OpenAIEmbedder]:
    client = OpenAIEmbedder(
        base_url=fake[1], api_key="sk-test", model="fake-embedding", dims=DIMS, max_retries=0
    )
    yield client
    await client.aclose()


@pytest.fixture
async def kb(tmp_path: Path, embedder: OpenAIEmbedder) -> AsyncIterator[KnowledgeBase]:
    base = await KnowledgeBase.open(tmp_path / "kb", embedder=embedder)
    for question, answer in FAQS:
        await base.add_faq(question, answer, item_id=question)
    yield base
    await base.close()


async def stored_vectors(path: Path) -> list[list[float] | None]:
    db = await lancedb.connect_async(str(path / "lance"))
    table = await db.open_table(TABLE)
    return [r["vector"] for r in await table.query().select(["vector"]).to_list()]


async def test_chunks_get_vectors_and_search_is_hybrid(
    kb: KnowledgeBase, fake: tuple[FakeEmbeddings, str]
) -> None:
    """Every chunk has a vector from the server; auto search fuses vector and BM25 ranks."""
    server, _ = fake
    vectors = await stored_vectors(kb.path)
    assert len(vectors) == len(FAQS)
    assert all(v is not None and len(v) == DIMS for v in vectors)
    assert kb.vectors_ready
    request = server.requests[0]
    assert (request.model, request.encoding_format) == ("fake-embedding", "base64")
    assert request.authorization == "Bearer sk-test"
    hits = await kb.search("delivery cost")
    assert hits[0].title == "How much does delivery cost?"
    assert all(h.score <= 2 / 61 for h in hits)  # reciprocal-rank-fusion scores
    assert server.requests[-1].inputs == ["delivery cost"]


async def test_vector_mode_ranks_by_similarity(kb: KnowledgeBase) -> None:
    """Vector-only search returns the nearest chunk with a cosine-similarity score."""
    hits = await kb.search("returned shoes receipt", mode="vector", k=2)
    assert hits[0].title == "Can I return shoes?"
    assert 0 < hits[0].score <= 1
    fts_hits = await kb.search("returned shoes receipt", mode="fts")
    assert fts_hits[0].title == "Can I return shoes?"


async def test_embedding_error_on_add_is_clear_and_changes_nothing(
    kb: KnowledgeBase, fake: tuple[FakeEmbeddings, str]
) -> None:
    """A failing embeddings server makes add_faq raise a readable error; nothing is stored."""
    server, _ = fake
    server.fail_next(500, message="model overloaded")
    with pytest.raises(EmbeddingError, match="answered HTTP 500: model overloaded"):
        await kb.add_faq("Do you deliver to Albania?", "Yes, in three days.")
    assert len(await kb.list_items()) == len(FAQS)
    assert len(await stored_vectors(kb.path)) == len(FAQS)
    server.fail_next(429, message="rate limited")
    with pytest.raises(EmbeddingError, match="HTTP 429"):
        await kb.add_faqs([FaqInput(question="q", answer="a")])


async def test_query_embedding_failure_falls_back_to_full_text(
    kb: KnowledgeBase, fake: tuple[FakeEmbeddings, str]
) -> None:
    """If the query cannot be embedded, hybrid search still answers from full text."""
    server, _ = fake
    server.fail_next(503)
    hits = await kb.search("gift cards")
    assert hits[0].title == "Do you sell gift cards?"
    assert hits[0].score > 2 / 61  # a BM25 score: the fallback path
    server.fail_next(503)
    with pytest.raises(EmbeddingError, match="HTTP 503"):
        await kb.search("gift cards", mode="vector")


async def test_unreachable_server_is_a_clear_error_and_fts_base_still_works(
    tmp_path: Path,
) -> None:
    """An embedder pointing at a closed port fails clearly; the base opened without it searches."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    embedder = OpenAIEmbedder(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", model="m", dims=DIMS, max_retries=0
    )
    kb = await KnowledgeBase.open(tmp_path / "kb", embedder=embedder)
    try:
        with pytest.raises(
            EmbeddingError, match=f"cannot reach the embedding server at http://127.0.0.1:{port}/v1"
        ):
            await kb.add_faq("Q?", "A.")
    finally:
        await kb.close()
        await embedder.aclose()
    kb = await KnowledgeBase.open(tmp_path / "kb")
    try:
        await kb.add_faq("Parking?", "Free parking behind the shop.")
        assert (await kb.search("parking"))[0].title == "Parking?"
        with pytest.raises(KnowledgeBaseError, match="needs an embedding model"):
            await kb.search("parking", mode="hybrid")
    finally:
        await kb.close()


async def test_import_with_failing_embedder_reports_per_file(
    kb: KnowledgeBase, fake: tuple[FakeEmbeddings, str], tmp_path: Path
) -> None:
    """A file whose chunks cannot be embedded fails with the server's message; others import."""
    server, _ = fake
    (tmp_path / "a.txt").write_text("Gift wrapping is free.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Parking is behind the shop.", encoding="utf-8")
    server.fail_next(500, message="boom")
    report = await kb.import_file(tmp_path)
    assert [(Path(r.source).name, r.ok, r.message) for r in report.items] == [
        ("a.txt", False, "not imported: the embedding server answered HTTP 500: boom"),
        ("b.txt", True, "imported: 1 chunks"),
    ]


async def test_model_change_needs_reembed(
    tmp_path: Path, kb: KnowledgeBase, fake: tuple[FakeEmbeddings, str]
) -> None:
    """Reopening with another vector size falls back to full text until reembed()."""
    await kb.close()
    wider = OpenAIEmbedder(base_url=fake[1], api_key="k", model="wide", dims=48, max_retries=0,
                           send_dimensions=True)  # fmt: skip
    reopened = await KnowledgeBase.open(kb.path, embedder=wider)
    try:
        ready = [reopened.vectors_ready]
        assert (await reopened.search("open every day"))[0].title == "When are you open?"
        assert await reopened.reembed() == len(FAQS)
        ready.append(reopened.vectors_ready)
        assert ready == [False, True]
        vectors = await stored_vectors(kb.path)
        assert {len(v) for v in vectors if v is not None} == {48}
        hits = await reopened.search("open every day", mode="vector")
        assert hits[0].title == "When are you open?"
        assert fake[0].requests[-1].dimensions == 48
    finally:
        await reopened.close()
        await wider.aclose()


async def test_embedder_batches_requests(fake: tuple[FakeEmbeddings, str]) -> None:
    """Texts are sent in batches and come back in order."""
    server, url = fake
    client = OpenAIEmbedder(base_url=url, api_key="k", model="m", dims=DIMS, batch_size=3,
                            max_retries=0)  # fmt: skip
    try:
        texts = [f"text number {i}" for i in range(10)]
        vectors = await client.embed(texts)
    finally:
        await client.aclose()
    # Batches go out concurrently, so they may arrive in any order.
    assert sorted(len(r.inputs) for r in server.requests) == [1, 3, 3, 3]
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, server.vector(text), atol=1e-6)


async def test_fake_server_speaks_float_and_base64(fake: tuple[FakeEmbeddings, str]) -> None:
    """The fake answers both encodings with the same little-endian float32 vectors."""
    server, url = fake
    async with httpx.AsyncClient() as client:
        as_float = await client.post(url + "/embeddings", json={"model": "m", "input": "hi there"})
        as_b64 = await client.post(
            url + "/embeddings",
            json={"model": "m", "input": ["hi there"], "encoding_format": "base64"},
        )
        bad = await client.post(url + "/embeddings", json={"model": "m", "input": [""]})
    floats = as_float.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(as_b64.json()["data"][0]["embedding"]), "<f4")
    assert len(floats) == DIMS
    assert np.allclose(floats, decoded)
    assert bad.status_code == 400
    assert [r.encoding_format for r in server.requests] == ["float", "base64"]  # 400s unrecorded


async def test_vector_index_is_built_past_ten_thousand_chunks(tmp_path: Path) -> None:
    """Past 10k chunks with vectors, upkeep builds an IVF_RQ index and search still works."""
    with serve_embeddings(dims=8) as (_, url):
        embedder = OpenAIEmbedder(base_url=url, api_key="k", model="m", dims=8, max_retries=0)
        kb = await KnowledgeBase.open(tmp_path / "kb", embedder=embedder)
        try:
            await kb.add_faqs(
                FaqInput(question=f"Question {i} about item{i}?", answer=f"Answer {i}.")
                for i in range(10_050)
            )
            await kb.wait_idle()
            db = await lancedb.connect_async(str(kb.path / "lance"))
            table = await db.open_table(TABLE)
            indices = {tuple(i.columns): i.index_type for i in await table.list_indices()}
            assert indices[("vector",)] == "IvfRq"
            hits = await kb.search("question about item4321", k=3)
            assert hits[0].title == "Question 4321 about item4321?"
        finally:
            await kb.close()
            await embedder.aclose()


async def test_probe_dims_reports_the_model_width(fake: tuple[FakeEmbeddings, str]) -> None:
    """probe_dims asks the server for one vector and returns its width, whatever dims says."""
    client = OpenAIEmbedder(base_url=fake[1], api_key="k", model="m", dims=0, max_retries=0)
    try:
        assert await client.probe_dims() == DIMS
    finally:
        await client.aclose()


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embedder_reads_both_encodings(
    fake: tuple[FakeEmbeddings, str], encoding: Literal["base64", "float"]
) -> None:
    """Vectors asked for as base64 (little-endian float32) or as JSON floats are the
    server's vectors, in the order of the texts, with the key in the Bearer header."""
    server, url = fake
    client = OpenAIEmbedder(base_url=url, api_key="sk-enc", model="m", dims=DIMS,
                            max_retries=0, encoding_format=encoding)  # fmt: skip
    try:
        texts = ["delivery to Peja", "", "kthim i këpucëve"]
        vectors = await client.embed(texts)
    finally:
        await client.aclose()
    request = server.requests[-1]
    assert (request.encoding_format, request.authorization) == (encoding, "Bearer sk-enc")
    assert request.inputs == ["delivery to Peja", "-", "kthim i këpucëve"]
    for text, vector in zip(request.inputs, vectors, strict=True):
        assert np.allclose(vector, server.vector(text), atol=1e-6)


async def test_embedder_retries_transient_failures_then_reports_the_last(
    fake: tuple[FakeEmbeddings, str],
) -> None:
    """A 503 then a 429 are retried and the third attempt's vectors returned; a 400 is not
    retried; once retries run out the last answer is the error, without the key."""
    server, url = fake
    client = OpenAIEmbedder(base_url=url, api_key="sk-secret", model="m", dims=DIMS, max_retries=2)
    try:
        server.fail_next(503, message="busy")
        server.fail_next(429, message="slow down")
        assert len((await client.embed(["parking"]))[0]) == DIMS
        assert len(server.requests) == 3
        server.fail_next(400, message="bad input")
        with pytest.raises(EmbeddingError, match="HTTP 400: bad input"):
            await client.embed(["parking"])
        assert len(server.requests) == 4
        server.fail_next(502, times=3, message="gateway down")
        with pytest.raises(EmbeddingError, match="HTTP 502: gateway down") as caught:
            await client.embed(["parking"])
        assert len(server.requests) == 7
        assert "sk-secret" not in str(caught.value)
    finally:
        await client.aclose()


async def test_embedder_time_out_is_a_clear_error(fake: tuple[FakeEmbeddings, str]) -> None:
    """A server slower than ``timeout_s`` is reported as not answering in time."""
    server, url = fake
    server.delay_s = 2.0
    client = OpenAIEmbedder(base_url=url, api_key="k", model="m", dims=DIMS, timeout_s=0.2,
                            max_retries=0)  # fmt: skip
    try:
        with pytest.raises(EmbeddingError, match=r"did not answer within 0\.2 s"):
            await client.embed(["parking"])
    finally:
        await client.aclose()


async def test_unreadable_answer_is_an_embedding_error() -> None:
    """A 200 whose body is not an embeddings answer (or holds too few vectors) is an
    EmbeddingError, never a crash of the caller."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b'{"data": [{"index": 0, "embedding": "%%not-base64%%"}]}'
        if scope["path"].startswith("/short"):
            body = b'{"data": []}'
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    with serve_app(app) as served:
        for base in (served.url + "/v1", served.url + "/short/v1"):
            client = OpenAIEmbedder(base_url=base, api_key="k", model="m", dims=DIMS, max_retries=0)
            try:
                with pytest.raises(EmbeddingError, match=r"unreadable answer|0 vectors for 1"):
                    await client.embed(["parking"])
            finally:
                await client.aclose()
