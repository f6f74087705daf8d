"""Embedding models: the protocol the knowledge base needs and an OpenAI-compatible client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import openai

from .errors import EmbeddingError

__all__ = ["Embedder", "OpenAIEmbedder"]

# Inputs are cut to this many characters: far below the 8k-token limit of embedding models
# in any language, and chunks are much shorter anyway (FAQ answers can be long).
MAX_INPUT_CHARS = 16_000


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of ``dims`` floats, one per text, in order."""

    dims: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint: OpenAI, the relay's gateway, a local one.

    Texts are sent in batches of ``batch_size`` with at most ``concurrency`` requests in
    flight. ``max_retries`` covers 429/5xx with the client's backoff; use 0 in tests.
    ``send_dimensions`` asks the model to shorten its vectors (text-embedding-3 models).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dims: int,
        batch_size: int = 256,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        send_dimensions: bool = False,
    ) -> None:
        self.dims = dims
        self.model = model
        self.base_url = base_url
        self._batch_size = max(1, batch_size)
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._send_dimensions = send_dimensions
        self._timeout_s = timeout_s
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "none",  # local servers need no key; the client insists on one
            timeout=timeout_s,
            max_retries=max_retries,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def probe_dims(self) -> int:
        """Embed one word and return the model's vector width (settings UI, benchmarks)."""
        return len((await self._request(["probe"]))[0])

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``; raises EmbeddingError with a message fit for the owner."""
        batches = [
            list(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)
        ]
        results = await asyncio.gather(*(self._embed_batch(b) for b in batches))
        return [vector for batch in results for vector in batch]

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        vectors = await self._request(texts)
        wrong = next((len(v) for v in vectors if len(v) != self.dims), None)
        if wrong is not None:
            raise EmbeddingError(
                f"model {self.model!r} returned {wrong}-dimensional vectors, not {self.dims}"
            )
        return vectors

    async def _request(self, texts: list[str]) -> list[list[float]]:
        inputs = [(t[:MAX_INPUT_CHARS] if t.strip() else "-") for t in texts]
        async with self._limit:
            try:
                if self._send_dimensions:
                    response = await self._client.embeddings.create(
                        model=self.model, input=inputs, dimensions=self.dims
                    )
                else:
                    response = await self._client.embeddings.create(model=self.model, input=inputs)
            except openai.APIStatusError as exc:
                raise EmbeddingError(
                    f"the embedding server answered HTTP {exc.status_code}: {_message(exc)}"
                ) from exc
            except openai.APITimeoutError as exc:
                raise EmbeddingError(
                    f"the embedding server did not answer within {self._timeout_s:g} s"
                ) from exc
            except openai.APIConnectionError as exc:
                raise EmbeddingError(
                    f"cannot reach the embedding server at {self.base_url}"
                ) from exc
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"the embedding request failed: {exc}") from exc
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EmbeddingError(
                f"the embedding server returned {len(data)} vectors for {len(inputs)} texts"
            )
        return [d.embedding for d in data]


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)
