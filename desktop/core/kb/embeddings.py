"""Embedding models: the protocol the knowledge base needs and an OpenAI-compatible client."""

from __future__ import annotations

import array
import asyncio
import base64
import binascii
import random
import sys
from collections.abc import Sequence
from typing import Final, Literal, Protocol, runtime_checkable

import httpx
import msgspec

from .errors import EmbeddingError

__all__ = ["Embedder", "OpenAIEmbedder"]

# Inputs are cut to this many characters: far below the 8k-token limit of embedding models
# in any language, and chunks are much shorter anyway (FAQ answers can be long).
MAX_INPUT_CHARS = 16_000
#: Statuses worth another try (what the openai SDK retried).
_RETRY_STATUSES: Final = frozenset({408, 409, 429})
#: A ``Retry-After`` longer than this is not waited for (the SDK's limit too).
_MAX_RETRY_AFTER_S: Final = 60.0
_JITTER: Final = random.Random()  # noqa: S311 - back-off jitter, not security


# The parts of the embeddings API we read; unknown fields are ignored.
class _Vector(msgspec.Struct):
    embedding: list[float] | str
    index: int = 0


class _Answer(msgspec.Struct):
    data: list[_Vector]


class _ErrorBody(msgspec.Struct):
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | str | None = None
    message: str | None = None


_ENCODER: Final = msgspec.json.Encoder()
_ANSWER: Final = msgspec.json.Decoder(_Answer)
_ERROR: Final = msgspec.json.Decoder(_ErrorEnvelope)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of ``dims`` floats, one per text, in order."""

    dims: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class _Retry(Exception):
    """A failure another attempt may cure; ``wait_s`` is what the server asked for."""

    def __init__(self, error: EmbeddingError, wait_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait_s = wait_s


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint: OpenAI, the relay's gateway, a local one.

    Texts are sent in batches of ``batch_size`` with at most ``concurrency`` requests in
    flight. ``max_retries`` covers time-outs, refused connections, 408/409/429 and 5xx
    with jittered back-off (``Retry-After`` honoured); use 0 in tests.
    ``send_dimensions`` asks the model to shorten its vectors (text-embedding-3 models).
    Vectors come as ``encoding_format`` "base64" (little-endian float32, a quarter of the
    JSON) unless "float" is asked for. Plain HTTP on httpx with msgspec, as the LLM drafter
    (the openai SDK cost ~2 ms of CPU a query and ~500 ms to import).
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
        encoding_format: Literal["base64", "float"] = "base64",
    ) -> None:
        self.dims = dims
        self.model = model
        self.base_url = base_url
        self._batch_size = max(1, batch_size)
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._send_dimensions = send_dimensions
        self._encoding: Literal["base64", "float"] = encoding_format
        self._timeout_s = timeout_s
        self._max_retries = max(0, max_retries)
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {
            # Local servers need no key; send a dummy as the SDK did.
            "authorization": f"Bearer {api_key or 'none'}",
            "content-type": "application/json",
            "accept": "application/json",
        }
        # Made on first use, off the loop's thread: loading the CA bundle takes 45-600 ms.
        self._client: httpx.AsyncClient | None = None
        self._making_client = asyncio.Lock()

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            async with self._making_client:
                if self._client is None:
                    self._client = await asyncio.to_thread(httpx.AsyncClient)
        return self._client

    async def probe_dims(self) -> int:
        """Embed one word and return the model's vector width (settings UI, benchmarks)."""
        return len((await self._request(["probe"]))[0])

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``; raises EmbeddingError with a message fit for the owner."""
        batches = [
            list(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)
        ]
        if len(batches) == 1:
            return await self._embed_batch(batches[0])
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
        body: dict[str, object] = {
            "model": self.model,
            "input": inputs,
            "encoding_format": self._encoding,
        }
        if self._send_dimensions:
            body["dimensions"] = self.dims
        content = _ENCODER.encode(body)
        async with self._limit:
            for attempt in range(self._max_retries + 1):
                try:
                    return self._vectors(await self._post(content), len(inputs))
                except _Retry as retry:
                    if attempt == self._max_retries:
                        raise retry.error from retry
                    await asyncio.sleep(_delay(attempt, retry.wait_s))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, content: bytes) -> bytes:
        client = await self._http()
        try:
            response = await client.post(
                self._url, content=content, headers=self._headers, timeout=self._timeout_s
            )
        except httpx.TimeoutException as exc:
            error = EmbeddingError(
                f"the embedding server did not answer within {self._timeout_s:g} s"
            )
            raise _Retry(error) from exc
        except httpx.TransportError as exc:
            error = EmbeddingError(f"cannot reach the embedding server at {self.base_url}")
            raise _Retry(error) from exc
        status = response.status_code
        if 200 <= status < 300:
            return response.content
        error = EmbeddingError(
            f"the embedding server answered HTTP {status}: {_message(response.content)}"
        )
        if status in _RETRY_STATUSES or status >= 500:
            wait = _retry_after(response.headers)
            if wait is None or wait <= _MAX_RETRY_AFTER_S:
                raise _Retry(error, wait)
        raise error

    def _vectors(self, content: bytes, expected: int) -> list[list[float]]:
        try:
            data = _ANSWER.decode(content).data
            data.sort(key=lambda d: d.index)
            vectors = [
                _from_base64(d.embedding) if isinstance(d.embedding, str) else d.embedding
                for d in data
            ]
        except (msgspec.DecodeError, ValueError) as exc:
            raise EmbeddingError(
                f"the embedding request failed: unreadable answer ({exc})"
            ) from exc
        if len(vectors) != expected:
            raise EmbeddingError(
                f"the embedding server returned {len(vectors)} vectors for {expected} texts"
            )
        return vectors


def _from_base64(text: str) -> list[float]:
    """Little-endian float32 values, as the API's ``base64`` encoding sends them."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 vector: {exc}") from exc
    if len(raw) % 4:
        raise ValueError("a base64 vector's length is not a multiple of 4 bytes")
    values = array.array("f", raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def _message(content: bytes) -> str:
    """The error message of an error body (OpenAI's envelope, or a bare one), else its text."""
    try:
        envelope = _ERROR.decode(content)
    except msgspec.DecodeError:
        return content[:200].decode("utf-8", "replace").strip() or "no message"
    error = envelope.error
    if isinstance(error, _ErrorBody) and error.message:
        return error.message
    if isinstance(error, str) and error:
        return error
    return envelope.message or content[:200].decode("utf-8", "replace")


def _delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: the server's wish, else the SDK's jittered back-off."""
    if retry_after is not None:
        return retry_after
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * _JITTER.random())


def _retry_after(headers: httpx.Headers) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(float(value) / scale, 0.0)
            except ValueError:
                continue
    return None
