"""A fake OpenAI-compatible ``POST /v1/embeddings`` server: deterministic vectors, real HTTP.

Each text's vector is the normalised sum of per-word vectors seeded by a hash of the word
(plus one for the whole text), so texts sharing words are close: enough for hybrid search
to behave like it does with a real model. Answers ``encoding_format`` "float" or "base64"
(little-endian float32, what the ``openai`` client asks for), records every request, and
fails on demand (``fail_next``) or slows down (``delay_s``).

Run alone for benchmarks: ``python -m tests.fakes.embeddings --dims 1536`` prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.fakes.asgi import Receive, Scope, Send, http_body
from tests.fakes.server import serve_app, serve_forever

__all__ = ["EmbeddingsRequest", "FakeEmbeddings", "serve_embeddings"]


_WORD = re.compile(r"\w+", re.UNICODE)
_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class EmbeddingsRequest:
    """What one request asked for."""

    model: str
    inputs: list[str]
    encoding_format: str
    dimensions: int | None
    authorization: str


@dataclass
class _Failure:
    status: int
    message: str
    times: int


@dataclass
class FakeEmbeddings:
    """The ASGI app and its knobs; safe to inspect from the test thread while it serves."""

    dims: int = 64
    model: str = "fake-embedding"
    delay_s: float = 0.0
    record_inputs: bool = True
    requests: list[EmbeddingsRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _words: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    def fail_next(self, status: int = 500, *, times: int = 1, message: str = "injected") -> None:
        """Answer the next ``times`` requests with HTTP ``status`` and an OpenAI error body."""
        with self._lock:
            self._failures.append(_Failure(status, message, times))

    @property
    def texts_embedded(self) -> int:
        with self._lock:
            return sum(len(r.inputs) for r in self.requests)

    # ---- vectors --------------------------------------------------------------------------

    @staticmethod
    def _random(key: str, dims: int) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        return np.random.default_rng(seed).standard_normal(dims).astype(np.float32)

    def _word(self, word: str, dims: int) -> np.ndarray:
        cached = self._words.get((word, dims))
        if cached is None:
            if len(self._words) >= _CACHE_LIMIT:
                self._words.clear()
            cached = self._words[(word, dims)] = self._random(word, dims)
        return cached

    def vector(self, text: str, dims: int | None = None) -> np.ndarray:
        """The unit vector this server returns for ``text``."""
        dims = dims or self.dims
        words = [w.lower() for w in _WORD.findall(text)]
        total = self._random(text, dims) * 0.5  # the text itself: distinct texts differ
        if words:
            total = total + np.sum([self._word(w, dims) for w in words], axis=0)
        norm = float(np.linalg.norm(total)) or 1.0
        return (total / norm).astype(np.float32)

    # ---- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        if scope["path"].rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            await _json(send, 404, {"error": {"message": "not found", "type": "invalid_request"}})
            return
        if scope["method"] != "POST":
            await _json(send, 405, {"error": {"message": "use POST", "type": "invalid_request"}})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, payload = await self._answer(body, headers.get("authorization", ""))
        await _json(send, status, payload)

    async def _answer(self, body: bytes, authorization: str) -> tuple[int, dict[str, Any]]:
        try:
            request = json.loads(body)
            raw = request["input"]
            inputs = [raw] if isinstance(raw, str) else list(raw)
            if not all(isinstance(t, str) for t in inputs):
                raise TypeError("token arrays are not supported by the fake")
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": {"message": f"bad request: {exc}", "type": "invalid_request"}}
        if any(not t for t in inputs):
            return 400, {"error": {"message": "input cannot be an empty string", "type": "x"}}
        encoding = request.get("encoding_format") or "float"
        dims = request.get("dimensions")
        with self._lock:
            self.requests.append(
                EmbeddingsRequest(
                    model=str(request.get("model", "")),
                    inputs=inputs if self.record_inputs else [],
                    encoding_format=encoding,
                    dimensions=dims,
                    authorization=authorization,
                )
            )
            failure = self._failures[0] if self._failures else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if failure is not None:
            return failure.status, {"error": {"message": failure.message, "type": "server_error"}}
        vectors = [self.vector(t, dims) for t in inputs]
        data: list[dict[str, Any]] = []
        for i, v in enumerate(vectors):
            embedding: Any
            if encoding == "base64":
                embedding = base64.b64encode(v.astype("<f4").tobytes()).decode()
            else:
                embedding = v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(len(_WORD.findall(t)) for t in inputs)
        return 200, {
            "object": "list",
            "data": data,
            "model": request.get("model", self.model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serve_embeddings(dims: int = 64) -> Iterator[tuple[FakeEmbeddings, str]]:
    """Serve a fake; yields it and its OpenAI ``base_url`` (ending in ``/v1``)."""
    fake = FakeEmbeddings(dims=dims)
    with serve_app(fake) as served:
        yield fake, served.url + "/v1"


def main(argv: Sequence[str] | None = None) -> None:
    """Serve in this process until killed; prints the base URL as the first stdout line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeEmbeddings(dims=args.dims, record_inputs=False)
    serve_forever(fake, args.port, "/v1")
    sys.exit(0)


if __name__ == "__main__":
    main()
