"""A fake OpenAI-compatible API as a real local HTTP server: chat, streaming, embeddings, models."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.asgi import Receive, Scope, Send, http_body
from tests.fakes.server import ServedApp, serve_app, serve_forever

__all__ = [
    "ChatRequest",
    "Delay",
    "Error",
    "FakeOpenAI",
    "Raw",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ServedOpenAI",
    "Step",
    "estimate_tokens",
    "serve_fake_openai",
]


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_WORD = re.compile(r"\w+", re.UNICODE)


# --- scripted behaviour -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """Answer a chat request with ``content`` (any string: valid JSON or not)."""

    content: str
    finish_reason: str = "stop"
    #: Override the computed usage: (prompt_tokens, completion_tokens).
    usage: tuple[int, int] | None = None
    #: Report this model instead of the requested one (OpenAI answers with dated snapshots).
    model: str | None = None
    cached_tokens: int = 0


@dataclass(frozen=True)
class Error:
    """Answer with an OpenAI-style error body and status (429, 500, 503, 400, ...)."""

    status: int
    message: str = ""
    type: str = ""
    code: str | None = None
    #: Seconds for the ``Retry-After`` header (sent as given: "0", "1", or an HTTP date).
    retry_after: str | None = None

    def body(self) -> dict[str, Any]:
        default_type, default_message = _ERROR_DEFAULTS.get(
            self.status, ("api_error", f"HTTP {self.status}")
        )
        return {
            "error": {
                "message": self.message or default_message,
                "type": self.type or default_type,
                "param": None,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (or until the client hangs up) and then answer with ``then``."""

    seconds: float
    then: Reply | Error | Raw | None = None


@dataclass(frozen=True)
class Raw:
    """Answer with exactly these bytes (a broken or unexpected body a client must survive)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"


Step = Reply | Error | Delay | Raw

_ERROR_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "Incorrect API key provided."),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it."),
    429: ("requests", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", "The server had an error while processing your request."),
    503: ("server_error", "The engine is currently overloaded, please try again later."),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, whatever its outcome."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completion request, as a responder sees it."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]

    def content_of(self, role: str) -> str:
        """All text of the messages with ``role``, joined by blank lines."""
        return "\n\n".join(_message_text(m) for m in self.messages if m.get("role") == role)

    @property
    def text(self) -> str:
        """Every message's text, joined: what a test searches for leaked or expected strings."""
        return "\n\n".join(_message_text(m) for m in self.messages)


Responder = Callable[[ChatRequest], "str | Step"]


# --- the fake -----------------------------------------------------------------------------------


@dataclass
class FakeOpenAI:
    """The fake's state and ASGI app. Scripted steps are used first, then ``responder``.

    Everything is thread-safe: the server runs in its own thread while the test scripts
    and inspects from another.
    """

    api_key: str | None = "test-key"
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
    embedding_dims: int = 256
    #: Requested model → model name reported in answers (e.g. a dated snapshot).
    model_aliases: dict[str, str] = field(default_factory=dict)
    responder: Responder | None = None
    default_content: str = "Hello from the fake OpenAI server."
    #: Every request received, in order, whatever its outcome.
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    #: The most chat requests that were being answered at the same moment.
    most_at_once: int = field(default=0, init=False)
    _at_once: int = field(default=0, init=False, repr=False)
    _script: deque[Step] = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _counter: int = field(default=0, init=False, repr=False)

    # scripting

    def push(self, *steps: Step | str) -> None:
        """Queue answers for the next chat requests, in order (a str is a ``Reply``)."""
        with self._lock:
            self._script.extend(Reply(s) if isinstance(s, str) else s for s in steps)

    def reset(self) -> None:
        """Forget scripted answers, the responder and recorded requests (to reuse one server)."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.responder = None

    @property
    def pending(self) -> int:
        """How many scripted answers are still queued."""
        with self._lock:
            return len(self._script)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path (e.g. "/v1/chat/completions")."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of every chat-completion request received, valid or not."""
        return [r.json() for r in self.requests_to("/v1/chat/completions")]

    @property
    def seen_text(self) -> str:
        """Every request body received, decoded: assert something never reached the API."""
        with self._lock:
            return "\n".join(r.body.decode("utf-8", "replace") for r in self.requests)

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method: str = scope["method"]
        path: str = scope["path"]
        exchange = _Exchange(send, receive)
        try:
            await self._route(method, path, headers, body, exchange)
        finally:
            with self._lock:
                self.requests.append(
                    RecordedRequest(method, path, headers, body, exchange.status or 499)
                )

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, ex: _Exchange
    ) -> None:
        if not self._authorized(headers):
            await ex.json(401, Error(401, code="invalid_api_key").body())
            return
        if method == "GET" and path == "/v1/models":
            await ex.json(200, {"object": "list", "data": [_model(m) for m in self.models]})
        elif method == "GET" and path.startswith("/v1/models/"):
            name = path.removeprefix("/v1/models/")
            if name in self.models:
                await ex.json(200, _model(name))
            else:
                await ex.json(404, Error(404, code="model_not_found").body())
        elif method == "POST" and path == "/v1/chat/completions":
            await self._chat(body, ex)
        elif method == "POST" and path == "/v1/embeddings":
            await self._embeddings(body, ex)
        else:
            await ex.json(404, Error(404, f"Unknown request URL: {method} {path}.").body())

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self.api_key is None:
            return True
        return headers.get("authorization", "") == f"Bearer {self.api_key}"

    # chat

    async def _chat(self, raw: bytes, ex: _Exchange) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            await ex.json(400, Error(400, "We could not parse the JSON body.").body())
            return
        problem = _chat_problem(body)
        if problem is not None:
            await ex.json(400, Error(400, problem).body())
            return
        request = ChatRequest(model=body["model"], messages=body["messages"], body=body)
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            await self._answer_chat(request, body, ex)
        finally:
            with self._lock:
                self._at_once -= 1

    async def _answer_chat(self, request: ChatRequest, body: Any, ex: _Exchange) -> None:
        step = self._next_step(request)
        while isinstance(step, Delay):
            if not await ex.wait_or_disconnect(step.seconds):
                return
            step = step.then if step.then is not None else Reply(self.default_content)
        if isinstance(step, Error):
            extra = {"retry-after": step.retry_after} if step.retry_after is not None else {}
            await ex.json(step.status, step.body(), extra)
            return
        if isinstance(step, Raw):
            await ex.raw(step.status, step.content_type, step.body)
            return
        completion = self._completion(request, step)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await ex.sse(200, _stream_chunks(completion, step.content, include_usage))
        else:
            await ex.json(200, completion)

    def _next_step(self, request: ChatRequest) -> Step:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            answer = self.responder(request)
            return Reply(answer) if isinstance(answer, str) else answer
        return Reply(self.default_content)

    def _completion(self, request: ChatRequest, reply: Reply) -> dict[str, Any]:
        with self._lock:
            self._counter += 1
            number = self._counter
        prompt_tokens, completion_tokens = reply.usage or (
            _prompt_tokens(request.messages),
            estimate_tokens(reply.content),
        )
        model = reply.model or self.model_aliases.get(request.model, request.model)
        return {
            "id": f"chatcmpl-fake{number:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        }

    # embeddings

    async def _embeddings(self, raw: bytes, ex: _Exchange) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            await ex.json(400, Error(400, "We could not parse the JSON body.").body())
            return
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        model = body.get("model") if isinstance(body, dict) else None
        dims = body.get("dimensions", self.embedding_dims) if isinstance(body, dict) else 0
        encoding = body.get("encoding_format", "float") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            problem: str | None = "you must provide a model parameter"
        elif not isinstance(inputs, list) or not inputs:
            problem = "'input' must be a non-empty string or array"
        elif not isinstance(dims, int) or dims < 1:
            problem = "'dimensions' must be a positive integer"
        elif encoding not in ("float", "base64"):
            problem = "'encoding_format' must be 'float' or 'base64'"
        else:
            problem = None
        if problem is not None:
            await ex.json(400, Error(400, problem).body())
            return
        assert isinstance(inputs, list)
        assert isinstance(dims, int)
        assert isinstance(model, str)
        texts = [item if isinstance(item, str) else json.dumps(item) for item in inputs]
        data = []
        for index, text in enumerate(texts):
            vector = embed_text(text, dims)
            value: list[float] | str = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
                if encoding == "base64"
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(estimate_tokens(t) for t in texts)
        await ex.json(
            200,
            {
                "object": "list",
                "data": data,
                "model": self.model_aliases.get(model, model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def embed_text(text: str, dims: int) -> list[float]:
    """A deterministic unit vector: hashed bag of lower-cased words (shared words → similar).

    Texts with no word characters get a vector from the hash of the whole text.
    """
    vector = [0.0] * dims
    words = _WORD.findall(text.casefold()) or [text]
    for word in words:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dims
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer counts: about four characters a token, at least one."""
    return max(1, math.ceil(len(text) / 4))


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    # OpenAI's documented accounting: ~3 tokens of framing per message, 3 to prime the reply.
    return 3 + sum(3 + estimate_tokens(_message_text(m)) for m in messages)


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def _chat_problem(body: Any) -> str | None:
    """Why OpenAI would answer 400 to this chat request (the checks that matter to us)."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"Invalid value for 'messages[{i}].role'."
        content = message.get("content")
        parts_ok = isinstance(content, list) and all(
            isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
        )
        tool_call = message.get("role") == "assistant" and content is None
        if not (isinstance(content, str) or parts_ok or tool_call):
            return f"Invalid type for 'messages[{i}].content'."
    return _response_format_problem(body.get("response_format"), messages)


def _response_format_problem(fmt: Any, messages: list[dict[str, Any]]) -> str | None:
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        if "json" not in "".join(_message_text(m) for m in messages).lower():
            return (
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'."
            )
        return None
    if kind != "json_schema":
        return "Invalid value for 'response_format.type'."
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        return "Missing required parameter: 'response_format.json_schema'."
    if not isinstance(spec.get("name"), str) or not _SCHEMA_NAME.match(spec["name"]):
        return "Invalid 'response_format.json_schema.name'."
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return "Invalid type for 'response_format.json_schema.schema'."
    if spec.get("strict"):
        return _strict_schema_problem(schema, "schema")
    return None


def _strict_schema_problem(schema: dict[str, Any], where: str) -> str | None:
    """Structured Outputs' strict-mode rules for objects: closed and every property required."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"Invalid schema: 'additionalProperties' must be false at {where}."
        if sorted(schema.get("required", [])) != sorted(properties):
            return f"Invalid schema: every property must be in 'required' at {where}."
        for name, sub in properties.items():
            problem = _strict_schema_problem(sub, f"{where}.{name}")
            if problem is not None:
                return problem
    if "array" in kinds and isinstance(schema.get("items"), dict):
        return _strict_schema_problem(schema["items"], f"{where}.items")
    return None


def _stream_chunks(
    completion: dict[str, Any], content: str, include_usage: bool
) -> Iterator[dict[str, Any]]:
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    usage_field = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], **usage_field}

    yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
    for piece in re.findall(r"\S+\s*|\s+", content):
        yield chunk({"content": piece}, None)
    yield chunk({}, completion["choices"][0]["finish_reason"])
    if include_usage:
        yield {**base, "choices": [], "usage": completion["usage"]}


# --- HTTP plumbing ------------------------------------------------------------------------------


class _Exchange:
    """The response side of one request, remembering the status sent."""

    def __init__(self, send: Send, receive: Receive) -> None:
        self._send = send
        self._receive = receive
        self.status: int | None = None

    async def _start(self, status: int, content_type: str, extra: Mapping[str, str]) -> None:
        self.status = status
        headers = [(b"content-type", content_type.encode())]
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def json(self, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> None:
        await self._start(status, "application/json", extra or {})
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        await self._send({"type": "http.response.body", "body": body})

    async def raw(self, status: int, content_type: str, body: bytes) -> None:
        await self._start(status, content_type, {})
        await self._send({"type": "http.response.body", "body": body})

    async def sse(self, status: int, events: Iterator[dict[str, Any]]) -> None:
        await self._start(status, "text/event-stream; charset=utf-8", {"cache-control": "no-cache"})
        for event in events:
            frame = f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
            await self._send({"type": "http.response.body", "body": frame, "more_body": True})
        await self._send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    async def wait_or_disconnect(self, seconds: float) -> bool:
        """Sleep, unless the client hangs up first (then False: nobody is left to answer)."""
        receiver = asyncio.ensure_future(self._receive())
        try:
            done, _ = await asyncio.wait({receiver}, timeout=seconds)
        finally:
            if not receiver.done():
                receiver.cancel()
        if done and receiver.result().get("type") == "http.disconnect":
            self.status = 499
            return False
        return True


# --- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedOpenAI:
    """A running fake: pass ``base_url`` (ending in /v1) and ``api_key`` to any OpenAI client."""

    fake: FakeOpenAI
    served: ServedApp

    @property
    def base_url(self) -> str:
        return f"{self.served.url}/v1"

    @property
    def api_key(self) -> str:
        return self.fake.api_key or "unused"


@contextmanager
def serve_fake_openai(fake: FakeOpenAI | None = None) -> Iterator[ServedOpenAI]:
    """Run ``fake`` (a new one by default) on 127.0.0.1 until the block ends."""
    fake = fake if fake is not None else FakeOpenAI()
    with serve_app(fake) as served:
        yield ServedOpenAI(fake, served)


def main(argv: list[str] | None = None) -> None:
    """Serve in this process until killed; prints the base URL as the first stdout line.

    Benchmarks run it this way so its work does not share the measured process's GIL.
    Every chat request is answered with ``--content`` (a valid draft answer by default).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="required Bearer key (default: any)")
    parser.add_argument(
        "--content",
        default=json.dumps(
            {
                "reply": "Dërgesa kushton 2 €.",
                "cited_chunk_ids": [],
                "confidence": 0.5,
                "handoff": False,
                "handoff_reason": None,
            },
            ensure_ascii=False,
        ),
    )
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_key=args.api_key, default_content=args.content)
    serve_forever(fake, args.port, "/v1")
    sys.exit(0)


if __name__ == "__main__":
    main()
